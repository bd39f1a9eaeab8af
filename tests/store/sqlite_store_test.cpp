#include "oap/store/sqlite_store.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string_view>

#include "oap/core/error.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::make_event;

// The little-endian bytes of a float, as SqliteStore writes features.
std::string float_bytes(float f) {
  std::string out(sizeof f, '\0');
  std::memcpy(out.data(), &f, sizeof f);
  return out;
}

// Every file in dir (the database, "-wal", "-shm", the lock file: whatever is there), by name.
std::map<std::string, std::string> read_files(const std::filesystem::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.is_regular_file()) out[f.path().filename().string()] = testing::read_file(f.path());
  }
  return out;
}

// The names of the files whose bytes contain needle.
std::vector<std::string> files_containing(const std::map<std::string, std::string>& files,
                                          std::string_view needle) {
  std::vector<std::string> out;
  for (const auto& [name, bytes] : files) {
    if (bytes.find(needle) != std::string::npos) out.push_back(name);
  }
  return out;
}

// What a test writes of a user it will forget: a unique name, text and meta markers and three
// features whose bytes occur nowhere else.
struct Secret {
  std::string user;
  std::string text_marker;
  std::string meta_marker;
  std::vector<float> features;

  explicit Secret(int k)
      : user("forget-me-" + std::to_string(k) + "-Qz7"),
        text_marker("TEXT-MARKER-" + std::to_string(k) + "-5c1e7d"),
        meta_marker("META-MARKER-" + std::to_string(k) + "-9a2b44"),
        features{-7.3141592e-29f * static_cast<float>(k + 1), 1.2345678e+33f + 1e26f * k,
                 6.0221409e-17f * static_cast<float>(k + 3)} {}

  // The i-th event; padding makes texts of very different lengths (SQLite cells of every size,
  // overflow pages included).
  Event event(int i, std::size_t padding) const {
    Event e;
    e.user = user;
    e.timestamp = make_event(user, i).timestamp;
    e.features = features;
    e.text = "event " + std::to_string(i) + " " + text_marker + std::string(padding, '.');
    e.meta = {{"note", meta_marker}, {"i", i}};
    return e;
  }

  // Every byte string that must not survive a forget, with what it is.
  std::map<std::string, std::string> needles() const {
    std::map<std::string, std::string> out = {
        {"user name", user}, {"text", text_marker}, {"meta", meta_marker}};
    for (std::size_t k = 0; k < features.size(); ++k) {
      out["feature " + std::to_string(k)] = float_bytes(features[k]);
    }
    return out;
  }
};

// For each needle of the secret, the files that still hold it ("" if none).
std::string leftovers(const std::map<std::string, std::string>& files, const Secret& secret) {
  std::string out;
  for (const auto& [what, bytes] : secret.needles()) {
    for (const auto& file : files_containing(files, bytes)) {
      out += secret.user + "'s " + what + " is in " + file + "; ";
    }
  }
  return out;
}

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

TEST(SqliteStore, ForgetLeavesNoByteOfTheUserInAnyFile) {
  testing::TempDir dir;
  StoreOptions options;
  options.inbox_events = 40;  // several moves: the secret's events in blocks and in the inbox
  options.batch_size = 7;
  const Secret secret(0);
  std::map<UserId, std::vector<Event>> model;  // the other users' events, in append order
  {
    SqliteStore store(dir / "s.db", options);
    std::mt19937 rng(5);
    for (int i = 0; i < 400; ++i) {
      if (i % 5 == 2) {
        store.append(secret.event(i, rng() % 3000));
        continue;
      }
      Event e = make_event("user" + std::to_string(rng() % 6), i, 4);
      e.text += std::string(rng() % 2000, 'o');
      store.append(e);
      model[e.user].push_back(e);
    }
    store.flush();
    ASSERT_GT(store.count(secret.user), 0u);
    // The search finds the secret before it is forgotten (so finding nothing later means
    // something), and part of it is still in the inbox, whose rows mix users.
    for (const auto& [what, bytes] : secret.needles()) {
      EXPECT_THAT(files_containing(read_files(dir.path()), bytes), ::testing::Not(IsEmpty()))
          << what;
    }
    EXPECT_EQ(store.forget(secret.user), 80u);
    EXPECT_EQ(leftovers(read_files(dir.path()), secret), "");
    EXPECT_EQ(store.count(secret.user), 0u);
    EXPECT_EQ(store.users().size(), model.size());
    for (const auto& [user, events] : model) EXPECT_EQ(store.recent(user, 1000), events) << user;
    // The store goes on: appends, moves and reads after the forget.
    for (int i = 400; i < 460; ++i) {
      Event e = make_event("user0", i, 4);
      store.append(e);
      model["user0"].push_back(e);
    }
  }
  EXPECT_EQ(leftovers(read_files(dir.path()), secret), "");
  SqliteStore store(dir / "s.db", options);
  for (const auto& [user, events] : model) EXPECT_EQ(store.recent(user, 1000), events) << user;
  EXPECT_EQ(store.count(secret.user), 0u);
}

TEST(SqliteStore, ForgettingUsersOneAfterAnotherLeavesNoneOfThem) {
  // Deleting a user's blocks makes SQLite rebalance the pages around them, moving other users'
  // rows; a moved row may leave a stale copy of its bytes in the unused middle of the page it
  // was on, which PRAGMA secure_delete does not clear. With SQLite 3.40.1 this very sequence
  // (sizes, seed) leaves text and features of some of these users in the database file when
  // forget is secure_delete + a truncating checkpoint; the VACUUM of SqliteStore's scrub removes
  // them.
  testing::TempDir dir;
  StoreOptions options;
  options.inbox_events = 64;
  options.batch_size = 16;
  constexpr int kUsers = 16;
  std::vector<Secret> secrets;
  for (int k = 0; k < kUsers; ++k) secrets.emplace_back(k);
  SqliteStore store(dir / "s.db", options);
  std::mt19937 rng(2);
  std::vector<std::size_t> counts(kUsers, 0);
  for (int i = 0; i < 1200; ++i) {
    const int k = static_cast<int>(rng() % kUsers);
    store.append(secrets[k].event(i, rng() % 5000));
    ++counts[k];
  }
  store.flush();
  std::vector<int> order(kUsers);
  for (int k = 0; k < kUsers; ++k) order[k] = k;
  std::shuffle(order.begin(), order.end(), rng);
  for (std::size_t done = 0; done < order.size(); ++done) {
    const int k = order[done];
    EXPECT_EQ(store.forget(secrets[k].user), counts[k]);
    const auto files = read_files(dir.path());
    for (std::size_t j = 0; j <= done; ++j) {
      EXPECT_EQ(leftovers(files, secrets[order[j]]), "") << "after forgetting " << done + 1;
    }
    for (std::size_t j = done + 1; j < order.size(); ++j) {
      EXPECT_EQ(store.count(secrets[order[j]].user), counts[order[j]]);
    }
  }
  EXPECT_THAT(store.users(), IsEmpty());
}

// Runs sql on its own connection to path (as another program would), failing the test on error.
void exec_on(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
  sqlite3_free(err);
  sqlite3_close(db);
}

TEST(SqliteStore, AForgetInterruptedBeforeItsScrubIsFinishedWhenTheStoreOpens) {
  // What a process that dies inside forget() leaves behind: the user's rows deleted, their bytes
  // still in the file, the scrub marked as pending in the same transaction. (secure_delete off:
  // Debian's SQLite turns it on by default, which would zero the deleted rows themselves.)
  testing::TempDir dir;
  StoreOptions options;
  options.batch_size = 10;
  options.inbox_events = 10;  // every commit is moved: the inbox is empty at the end
  const Secret secret(0);
  {
    SqliteStore store(dir / "s.db", options);
    for (int i = 0; i < 50; ++i) {
      store.append(secret.event(i, 100));
      store.append(make_event("other", i));
    }
  }  // closed: everything in blocks, the log checkpointed into the file and removed
  exec_on(dir / "s.db",
          "PRAGMA secure_delete = OFF; BEGIN; DELETE FROM blocks WHERE user_id = (SELECT id FROM "
          "users WHERE name = '" +
              secret.user + "'); DELETE FROM users WHERE name = '" + secret.user +
              "'; INSERT INTO oap_meta(key, value) VALUES('scrub_pending', '1'); COMMIT;");
  ASSERT_THAT(files_containing(read_files(dir.path()), secret.text_marker),
              ::testing::Not(IsEmpty()));
  SqliteStore store(dir / "s.db", options);
  EXPECT_EQ(leftovers(read_files(dir.path()), secret), "");
  EXPECT_EQ(store.count("other"), 50u);
  EXPECT_EQ(store.count(secret.user), 0u);
}

TEST(SqliteStore, AForgetThatCannotTruncateTheLogSaysSoAndTheNextForgetFinishesIt) {
  testing::TempDir dir;
  StoreOptions options;
  options.busy_timeout_ms = 20;
  const Secret secret(0);
  SqliteStore store(dir / "s.db", options);
  for (int i = 0; i < 50; ++i) {
    store.append(secret.event(i, 100));
    store.append(make_event("other", i));
  }
  store.flush();
  // Another connection (it ignores the lock file) keeps a read transaction open on the
  // database as it was: the checkpoint cannot move past it.
  sqlite3* reader = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "s.db").c_str(), &reader), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM blocks;", nullptr, nullptr, nullptr),
            SQLITE_OK);
  try {
    store.forget(secret.user);
    ADD_FAILURE() << "forget returned with a reader holding the log";
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot truncate the write-ahead log"));
    EXPECT_THAT(e.what(), HasSubstr("s.db-wal"));
    EXPECT_THAT(e.what(), HasSubstr("the next forget() or opening the store retries"));
  }
  // The user is gone for every read already; only the scrub is left.
  EXPECT_EQ(store.count(secret.user), 0u);
  EXPECT_THAT(store.users(), ::testing::ElementsAre("other"));
  EXPECT_NE(leftovers(read_files(dir.path()), secret), "");
  ASSERT_EQ(sqlite3_exec(reader, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(reader);
  EXPECT_EQ(store.forget("nobody"), 0u);
  EXPECT_EQ(leftovers(read_files(dir.path()), secret), "");
  EXPECT_EQ(store.count("other"), 50u);
}

}  // namespace
}  // namespace oap
