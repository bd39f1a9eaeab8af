// kill -9 of a process in the middle of recording loses no acknowledged decision, and leaves
// decisions, user states and progress consistent; a trail open in one process cannot be opened
// in another.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "child_process.hpp"
#include "oap/policy/audit_trail.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A running crash writer (its stdout is read by the test).
struct Writer : testing::ChildProcess {
  Writer(const fs::path& db, const char* mode)
      : ChildProcess(OAP_AUDIT_CRASH_WRITER, {db.string(), mode}) {}
};

std::optional<long long> parse_ack(const std::string& line) {
  long long i;
  if (std::sscanf(line.c_str(), "acked %lld", &i) != 1) return std::nullopt;
  return i;
}

// Runs the writer until it has acknowledged min_acks records, lets it go on for delay_us more,
// kills it with SIGKILL and adds every record it acknowledged to acked.
void run_and_kill(const fs::path& db, std::size_t min_acks, int delay_us,
                  std::set<long long>& acked) {
  Writer writer(db, "loop");
  std::size_t acks = 0;
  while (acks < min_acks) {
    auto line = writer.next_line();
    if (!line) break;
    if (auto i = parse_ack(*line)) {
      acked.insert(*i);
      ++acks;
    }
  }
  std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
  writer.kill9();
  const int status = writer.wait_for_exit();
  // Whatever is still in the pipe was acknowledged before the kill too.
  while (auto line = writer.next_line()) {
    if (auto i = parse_ack(*line)) acked.insert(*i);
  }
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "writer was not killed";
}

// Reopens the trail: every acknowledged record (and update) is there, and the trail is
// consistent.
void expect_recovered(const fs::path& db, const std::set<long long>& acked, int round) {
  SCOPED_TRACE("round " + std::to_string(round));
  auto trail = open_audit_trail(db);
  long long total = 0;
  for (const auto& user : trail->users()) total += static_cast<long long>(trail->events(user));
  EXPECT_GE(total, *acked.rbegin() + 1) << "acknowledged records are missing";
  // Progress commits with its record: it counts exactly the records there are.
  EXPECT_EQ(trail->progress("records"), total);
  for (int u = 0; u < 5; ++u) {
    UserId user = "u";  // not "u" + to_string(): GCC 12 -O3 warns falsely (-Wrestrict)
    user += std::to_string(u);
    const auto decisions = trail->decisions(user);
    ASSERT_EQ(decisions.size(), trail->events(user)) << user;
    // Record i is user i % 5's event i / 5: all of them, in order, up to the total.
    const long long expected = total > u ? (total - u + 4) / 5 : 0;
    ASSERT_EQ(static_cast<long long>(decisions.size()), expected) << user;
    for (std::size_t k = 0; k < decisions.size(); ++k) {
      const long long i = static_cast<long long>(k) * 5 + u;
      ASSERT_EQ(decisions[k].event, k) << user;
      ASSERT_EQ(decisions[k].decision.reason, "record " + std::to_string(i)) << user;
    }
    // The state is the one recorded with the user's last decision.
    if (!decisions.empty()) {
      const long long last_i = static_cast<long long>(decisions.size() - 1) * 5 + u;
      EXPECT_EQ(trail->user_state(user), (nlohmann::json{{"i", last_i}})) << user;
    } else {
      EXPECT_EQ(trail->user_state(user), std::nullopt) << user;
    }
    // Updates follow their records, in order; every acknowledged one is there. (A record that
    // was committed but killed before its update has none: the next run goes on after it.)
    std::set<long long> updated;
    long long previous = -1;
    for (const auto& up : trail->updates(user)) {
      const long long i = static_cast<long long>(up.event) * 5 + u;
      EXPECT_EQ(up.report.reason, "update " + std::to_string(i)) << user;
      EXPECT_EQ(i % 4, 0) << user;
      EXPECT_GT(i, previous) << user;
      previous = i;
      updated.insert(i);
    }
    for (long long i : acked) {
      if (i % 5 == u && i % 4 == 0) {
        EXPECT_TRUE(updated.count(i)) << user << ": update of record " << i << " is missing";
      }
    }
  }
}

TEST(AuditTrailCrash, Kill9AtRandomMomentsLosesNoAcknowledgedRecord) {
  testing::TempDir tmp;
  const fs::path db = tmp / "audit.db";
  std::mt19937 rng(20261201);
  std::set<long long> acked;
  for (int round = 0; round < 15; ++round) {
    const std::size_t before = acked.size();
    const std::size_t min_acks = 1 + rng() % 300;
    const int delay_us = static_cast<int>(rng() % 20000);
    run_and_kill(db, min_acks, delay_us, acked);
    ASSERT_GE(acked.size(), before + min_acks) << "round " << round;
    expect_recovered(db, acked, round);
    if (::testing::Test::HasFatalFailure()) return;
  }
  std::printf("%zu records acknowledged over 15 kills\n", acked.size());
}

TEST(AuditTrailLock, AnotherProcessCannotOpenAnOpenTrail) {
  testing::TempDir tmp;
  const fs::path db = tmp / "audit.db";
  {
    auto trail = open_audit_trail(db);
    Writer writer(db, "try_open");
    auto line = writer.next_line();
    const int status = writer.wait_for_exit();
    ASSERT_TRUE(line.has_value());
    EXPECT_THAT(*line, HasSubstr("audit trail " + db.string() + " is already open"));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3) << *line;
  }
  Writer writer(db, "try_open");
  EXPECT_EQ(writer.next_line(), "opened");
  const int status = writer.wait_for_exit();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace oap
