// kill -9 of a process in the middle of an ingest loses no acknowledged event.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "child_process.hpp"
#include "oap/store/sqlite_store.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

// Starts the writer on db, waits until it has acknowledged at least min_acked events, kills it
// with SIGKILL and returns the last acknowledgement it read.
long long run_and_kill(const std::string& db, const char* mode, long long min_acked) {
  testing::ChildProcess writer(OAP_CRASH_WRITER, {db, mode});
  long long acked = 0;
  auto read_ack = [&](const std::string& line) {
    long long n;
    if (std::sscanf(line.c_str(), "acked %lld", &n) == 1) acked = n;
  };
  while (acked < min_acked) {
    const auto line = writer.next_line();
    if (!line) break;
    read_ack(*line);
  }
  writer.kill9();
  const int status = writer.wait_for_exit();
  // Anything still in the pipe was acknowledged before the kill too.
  while (const auto line = writer.next_line()) read_ack(*line);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "writer was not killed";
  return acked;
}

void expect_acknowledged_events_intact(const std::string& db, long long acked) {
  SqliteStore store(db);
  std::size_t total = 0;
  for (const auto& user : store.users()) total += store.count(user);
  EXPECT_GE(total, static_cast<std::size_t>(acked));
  // Every stored event is exactly what was appended, in order, with no gap.
  for (int u = 0; u < 10; ++u) {
    std::string user = "u" + std::to_string(u);
    auto events = store.recent(user, 1u << 30);
    for (std::size_t k = 0; k < events.size(); ++k) {
      ASSERT_EQ(events[k], testing::make_event(user, static_cast<long long>(k) * 10 + u, 8))
          << user << " event " << k;
    }
  }
}

TEST(SqliteStoreCrash, BatchedFlushedEventsSurviveKill9) {
  testing::TempDir dir;
  std::string db = (dir / "crash.db").string();
  long long acked = run_and_kill(db, "batched", 5000);
  ASSERT_GE(acked, 5000);
  expect_acknowledged_events_intact(db, acked);
}

TEST(SqliteStoreCrash, EveryAppendEventsSurviveKill9) {
  testing::TempDir dir;
  std::string db = (dir / "crash.db").string();
  long long acked = run_and_kill(db, "every_append", 500);
  ASSERT_GE(acked, 500);
  expect_acknowledged_events_intact(db, acked);
  // The database is still writable after recovery, and a second crash loses nothing either.
  long long acked_again = run_and_kill(db, "every_append", acked + 200);
  ASSERT_GE(acked_again, acked + 200);
  expect_acknowledged_events_intact(db, acked_again);
}

}  // namespace
}  // namespace oap
