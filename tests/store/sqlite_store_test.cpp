#include "oap/store/sqlite_store.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "oap/core/error.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using testing::make_event;

TEST(SqliteStore, EverythingSurvivesReopen) {
  testing::TempDir dir;
  auto path = dir / "s.db";
  {
    SqliteStore store(path);
    for (int i = 0; i < 100; ++i) store.append(make_event("u" + std::to_string(i % 7), i, 3));
    store.forget("u3");
  }  // closes without an explicit flush: buffered appends are committed at close
  SqliteStore store(path);
  EXPECT_EQ(store.users().size(), 6u);
  EXPECT_EQ(store.count("u0"), 15u);
  EXPECT_EQ(store.count("u3"), 0u);
  EXPECT_EQ(store.dimension("u1"), 3u);
  auto r = store.recent("u1", 2);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], make_event("u1", 92, 3));
  EXPECT_EQ(r[1], make_event("u1", 99, 3));
  // The dimension is still enforced after reopening, and new events keep their order.
  EXPECT_THROW(store.append(make_event("u1", 200, 4)), InvalidArgument);
  store.append(make_event("u1", 200, 3));
  EXPECT_EQ(store.recent("u1", 1)[0], make_event("u1", 200, 3));
}

TEST(SqliteStore, InboxAndBlocksMergeInOrderAcrossReopen) {
  testing::TempDir dir;
  StoreOptions options;
  options.inbox_events = 10;
  options.batch_size = 4;
  std::vector<Event> expected;
  {
    SqliteStore store(dir / "s.db", options);
    // Out-of-order timestamps, so events in the inbox sort before moved ones.
    for (int i = 0; i < 25; ++i) {
      Event e = make_event("u", (i * 7) % 25);
      e.text = "append " + std::to_string(i);
      store.append(e);
      expected.push_back(e);
    }
    store.flush();  // 25 committed: 20 moved, 5 still in the inbox
    EXPECT_EQ(store.count("u"), 25u);
  }
  std::stable_sort(expected.begin(), expected.end(),
                   [](const Event& a, const Event& b) { return a.timestamp < b.timestamp; });
  SqliteStore store(dir / "s.db", options);
  EXPECT_EQ(store.count("u"), 25u);
  EXPECT_EQ(store.recent("u", 100), expected);
  EXPECT_EQ(store.recent("u", 3), std::vector<Event>(expected.end() - 3, expected.end()));
  auto r = store.range("u", expected[4].timestamp, expected[9].timestamp);
  EXPECT_EQ(r, std::vector<Event>(expected.begin() + 4, expected.begin() + 9));
  EXPECT_EQ(store.forget("u"), 25u);
  EXPECT_EQ(store.count("u"), 0u);
}

TEST(SqliteStore, LateEventsAcrossManyBlocksMatchASortedModel) {
  // Timestamps jump back and forth (late arrivals, equal timestamps), a tiny inbox packs them
  // into many blocks whose time spans overlap, and recent()/range() must still return exactly
  // the model's newest n / time window, in (timestamp, append order) order.
  testing::TempDir dir;
  StoreOptions options;
  options.inbox_events = 7;
  options.batch_size = 3;
  SqliteStore store(dir / "s.db", options);
  std::mt19937 rng(17);
  std::vector<Event> model;  // in append order; stable_sort by time gives the store's order
  for (int i = 0; i < 400; ++i) {
    const int t = i % 10 == 0 ? static_cast<int>(rng() % 50)          // late: far in the past
                              : i / 2 + static_cast<int>(rng() % 6);  // mostly forward, ties
    Event e = make_event("u", t, 2);
    e.text = "append " + std::to_string(i);
    store.append(e);
    model.push_back(e);
    if (i % 37 == 0) store.append(make_event("other", i, 5));  // another user's blocks between
  }
  std::stable_sort(model.begin(), model.end(),
                   [](const Event& a, const Event& b) { return a.timestamp < b.timestamp; });
  for (int round = 0; round < 2; ++round) {
    for (std::size_t n : {1u, 2u, 5u, 13u, 64u, 100u, 399u, 400u, 1000u}) {
      const std::size_t k = std::min(n, model.size());
      EXPECT_EQ(store.recent("u", n),
                std::vector<Event>(model.end() - static_cast<long>(k), model.end()))
          << "n=" << n;
    }
    for (int q = 0; q < 30; ++q) {
      const Timestamp t0 = make_event("u", static_cast<int>(rng() % 220)).timestamp;
      const Timestamp t1 = t0 + std::chrono::microseconds(1000 * (rng() % 60));
      std::vector<Event> want;
      for (const Event& e : model) {
        if (e.timestamp >= t0 && e.timestamp < t1) want.push_back(e);
      }
      EXPECT_EQ(store.range("u", t0, t1), want);
    }
    EXPECT_EQ(store.count("u"), model.size());
    store.flush();  // the second round reads after more of the inbox may have moved
    store.append(make_event("u", 10'000, 2));
    model.push_back(make_event("u", 10'000, 2));
  }
}

TEST(SqliteStore, SecondOpenOfTheSameDatabaseIsRefused) {
  testing::TempDir dir;
  SqliteStore first(dir / "s.db");
  try {
    SqliteStore second(dir / "s.db");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("is open in another process"));
  }
}

TEST(SqliteStore, RefusesFilesThatAreNotOapStores) {
  testing::TempDir dir;
  testing::write_file(dir / "garbage.db", std::string(4096, 'x'));
  try {
    SqliteStore store(dir / "garbage.db");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("garbage.db"));
  }
  // A real SQLite database with someone else's tables is left untouched.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "other.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  try {
    SqliteStore store(dir / "other.db");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("not an oap history store"));
  }
}

TEST(SqliteStore, MissingDirectoryIsAClearError) {
  try {
    SqliteStore store("/nonexistent/oap/dir/s.db");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("directory /nonexistent/oap/dir"));
  }
}

TEST(SqliteStore, EveryAppendDurabilityCommitsEachCall) {
  testing::TempDir dir;
  StoreOptions options;
  options.durability = Durability::kEveryAppend;
  SqliteStore store(dir / "s.db", options);
  store.append(make_event("u", 0));
  // Visible to an independent connection without flush(): it is committed.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((dir / "s.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT (SELECT coalesce(sum(n), 0) FROM inbox) + (SELECT "
                               "coalesce(sum(n), 0) FROM blocks)",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 1);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST(SqliteStore, BatchedAppendsCommitWhenTheBatchFillsOrOnFlush) {
  testing::TempDir dir;
  StoreOptions options;
  options.batch_size = 10;
  SqliteStore store(dir / "s.db", options);
  // Events committed, as an independent read-only connection sees them; -1 (and a test
  // failure naming SQLite's message) if any SQLite call fails, so a broken query cannot pass as
  // "0 committed".
  auto committed = [&]() -> int {
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2((dir / "s.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    EXPECT_EQ(rc, SQLITE_OK) << "open: " << sqlite3_errstr(rc);
    sqlite3_stmt* stmt = nullptr;
    if (rc == SQLITE_OK) {
      rc = sqlite3_prepare_v2(db,
                              "SELECT (SELECT coalesce(sum(n), 0) FROM inbox) + "
                              "(SELECT coalesce(sum(n), 0) FROM blocks)",
                              -1, &stmt, nullptr);
      EXPECT_EQ(rc, SQLITE_OK) << "prepare: " << sqlite3_errmsg(db);
    }
    int n = -1;
    if (rc == SQLITE_OK) {
      rc = sqlite3_step(stmt);
      EXPECT_EQ(rc, SQLITE_ROW) << "step: " << sqlite3_errmsg(db);
      if (rc == SQLITE_ROW) n = sqlite3_column_int(stmt, 0);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
  };
  for (int i = 0; i < 9; ++i) store.append(make_event("u", i));
  EXPECT_EQ(committed(), 0);
  store.append(make_event("u", 9));
  EXPECT_EQ(committed(), 10);
  store.append(make_event("u", 10));
  EXPECT_EQ(committed(), 10);
  store.flush();
  EXPECT_EQ(committed(), 11);
}

TEST(SqliteStore, ReadsSeeBufferedAppends) {
  testing::TempDir dir;
  StoreOptions options;
  options.batch_size = 1000;
  SqliteStore store(dir / "s.db", options);
  store.append(make_event("u", 0));
  EXPECT_EQ(store.count("u"), 1u);
  EXPECT_EQ(store.recent("u", 5).size(), 1u);
}

}  // namespace
}  // namespace oap
