// kill -9 of a process in the middle of an ingest loses no acknowledged event.

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "oap/store/sqlite_store.hpp"
#include "test_util.hpp"

extern char** environ;

namespace oap {
namespace {

// Starts the writer on db, waits until it has acknowledged at least min_acked events, kills it
// with SIGKILL and returns the last acknowledgement it read.
long long run_and_kill(const std::string& db, const char* mode, long long min_acked) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::string exe = OAP_CRASH_WRITER;
  std::string mode_arg = mode;
  std::string db_arg = db;
  char* argv[] = {exe.data(), db_arg.data(), mode_arg.data(), nullptr};
  pid_t pid = 0;
  EXPECT_EQ(posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  FILE* out = fdopen(fds[0], "r");
  long long acked = 0;
  char line[128];
  while (acked < min_acked && std::fgets(line, sizeof line, out)) {
    long long n;
    if (std::sscanf(line, "acked %lld", &n) == 1) acked = n;
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  // Anything still in the pipe was acknowledged before the kill too.
  while (std::fgets(line, sizeof line, out)) {
    long long n;
    if (std::sscanf(line, "acked %lld", &n) == 1) acked = n;
  }
  fclose(out);
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
