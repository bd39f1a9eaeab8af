#include "oap/policy/audit_trail.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <thread>

#include "oap/core/error.hpp"
#include "oap/store/sqlite_store.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr std::int64_t kT0 = 1'700'000'000'000'000;

// A record whose every field depends on (user, event); the marker goes into the reason and the
// scores.
AuditRecord make_record(const UserId& user, std::uint64_t event, const std::string& marker = "") {
  AuditRecord r;
  r.user = user;
  r.event = event;
  r.time = timestamp_from_micros(kT0 + static_cast<std::int64_t>(event) * 1'000'001);
  const auto k = static_cast<int>(event);
  r.decision.action = static_cast<Action>(k % 6);
  r.decision.sample_weight = (k % 6 == 2 || k % 6 == 3) ? 0.125 * (1 + k % 8) : 0.0;
  r.decision.trigger_start = (k % 6 == 2 || k % 6 == 3) ? k / 2 : -1;
  r.decision.follow_up = k % 12 == 8;      // an adapt
  r.decision.consolidation = k % 12 == 2;  // another
  r.decision.reason = "rule " + std::to_string(k % 7) + " for " + user + " at " +
                      std::to_string(event) + " " + marker;
  r.p_value = 1.0 / (2.0 + k);
  r.detector = k % 2 ? "zscore" : "";
  r.shift_state = static_cast<ShiftState>(k % 4);
  if (k % 3 != 0) r.nll = 2.0 + 0.01 * k;  // absent for every third event
  r.learned = k % 5 != 4;
  r.scores = {{"zscore",
               {{"score", 0.5 * k},
                {"p_value", r.p_value},
                {"flagged", k % 2 == 1},
                {"contributions", {0.25, 0.75}}}},
              {"note", marker}};
  return r;
}

// "w<w>u<k>": a user of the concurrency test (built with +=: GCC 12 -O3 warns falsely
// (-Wrestrict) on "w" + std::to_string(w)).
UserId writer_user(int w, int k) {
  UserId user = "w";
  user += std::to_string(w);
  user += "u";
  user += std::to_string(k);
  return user;
}
std::string writer_key(int w) {
  std::string key = "writer";
  key += std::to_string(w);
  return key;
}

nlohmann::json make_state(const UserId& user, std::uint64_t event, const std::string& marker = "") {
  return {{"user", user}, {"events", event + 1}, {"flags", {1, 0, 1}}, {"marker", marker}};
}

UpdateReport make_report(int i, const std::string& marker = "") {
  UpdateReport r;
  r.accepted = i % 2 == 0;
  r.reason = "update " + std::to_string(i) + " " + marker;
  r.version = r.accepted ? "v" + std::to_string(i) : "";
  r.base_version = "v0";
  r.trigger_loss_before = 3.0 + i;
  r.trigger_loss_after = 2.0 + i;
  r.heldout_loss_before = std::numeric_limits<double>::quiet_NaN();  // no held-out samples
  r.heldout_loss_after = std::numeric_limits<double>::quiet_NaN();
  r.steps = 10 + i;
  r.trigger_samples = 4;
  r.replay_samples = 8;
  r.heldout_samples = 0;
  r.seconds = 0.5;
  return r;
}

// Losses compared as JSON, where NaN is null.
void expect_same_update(const UpdateRecord& a, const UpdateRecord& b) {
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.event, b.event);
  EXPECT_EQ(nlohmann::json(a.report), nlohmann::json(b.report));
}

// Whether any file under dir contains needle.
std::vector<std::string> files_containing(const fs::path& dir, const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    if (testing::read_file(e.path()).find(needle) != std::string::npos) {
      out.push_back(e.path().filename().string());
    }
  }
  return out;
}

void exec_sql(const fs::path& db_path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

TEST(AuditTrail, EveryFieldRoundTripsAndSurvivesReopen) {
  testing::TempDir dir;
  const fs::path db = dir / "audit.db";
  std::vector<AuditRecord> alice, bob;
  {
    auto trail = open_audit_trail(db);
    for (std::uint64_t e = 0; e < 13; ++e) {
      alice.push_back(make_record("alice", e));
      trail->record(alice.back(), make_state("alice", e), {{"input.jsonl", 2 * e + 1}});
      if (e < 5) {
        bob.push_back(make_record("bob\xc3\xa9", e));  // a non-ASCII id
        trail->record(bob.back(), make_state("bob", e));
      }
    }
    ASSERT_TRUE(trail->record_update({"alice", 2, make_report(1)}));
    ASSERT_TRUE(trail->record_update({"alice", 2, make_report(2)}));
    ASSERT_TRUE(trail->record_update({"bob\xc3\xa9", 3, make_report(3)}));
  }
  // The cases the records cover.
  EXPECT_FALSE(alice[0].nll.has_value());
  EXPECT_TRUE(alice[1].nll.has_value());
  EXPECT_FALSE(alice[4].learned);

  auto trail = open_audit_trail(db);
  EXPECT_EQ(trail->users(), (std::vector<UserId>{"alice", "bob\xc3\xa9"}));
  EXPECT_EQ(trail->events("alice"), 13u);
  EXPECT_EQ(trail->events("bob\xc3\xa9"), 5u);
  EXPECT_EQ(trail->events("carol"), 0u);
  EXPECT_EQ(trail->decisions("alice"), alice);
  EXPECT_EQ(trail->decisions("bob\xc3\xa9"), bob);
  EXPECT_TRUE(trail->decisions("carol").empty());
  EXPECT_EQ(trail->user_state("alice"), make_state("alice", 12));
  EXPECT_EQ(trail->user_state("bob\xc3\xa9"), make_state("bob", 4));
  EXPECT_EQ(trail->user_state("carol"), std::nullopt);
  EXPECT_EQ(trail->progress("input.jsonl"), 25);
  EXPECT_EQ(trail->progress("other"), std::nullopt);
  const auto updates = trail->updates("alice");
  ASSERT_EQ(updates.size(), 2u);
  expect_same_update(updates[0], {"alice", 2, make_report(1)});
  expect_same_update(updates[1], {"alice", 2, make_report(2)});
  EXPECT_TRUE(std::isnan(updates[0].report.heldout_loss_before));
  ASSERT_EQ(trail->updates("bob\xc3\xa9").size(), 1u);
  expect_same_update(trail->updates("bob\xc3\xa9")[0], {"bob\xc3\xa9", 3, make_report(3)});
  EXPECT_TRUE(trail->updates("carol").empty());

  // Recording goes on where it stopped.
  trail->record(make_record("alice", 13), make_state("alice", 13));
  EXPECT_EQ(trail->events("alice"), 14u);
}

// Schemas 1 (before Decision::follow_up) and 2 (before Decision::consolidation) are migrated on
// open: their decisions read back as they were written, without the flags they lacked, and new
// ones keep the flags.
TEST(AuditTrail, OlderSchemaVersionsAreMigrated) {
  for (const int version : {1, 2}) {
    SCOPED_TRACE("schema version " + std::to_string(version));
    testing::TempDir dir;
    const fs::path db = dir / "audit.db";
    std::vector<AuditRecord> alice;
    {
      auto trail = open_audit_trail(db);
      for (std::uint64_t e = 0; e < 8; ++e) {
        alice.push_back(make_record("alice", e));
        if (version == 1) alice.back().decision.follow_up = false;
        alice.back().decision.consolidation = false;
        trail->record(alice.back(), make_state("alice", e));
      }
    }
    const std::string downgrade =
        std::string("ALTER TABLE decisions DROP COLUMN consolidation; ") +
        (version == 1 ? "ALTER TABLE decisions DROP COLUMN follow_up; " : "") +
        "UPDATE audit_meta SET value = '" + std::to_string(version) + "' WHERE key = 'schema'";
    exec_sql(db, downgrade.c_str());
    {
      auto trail = open_audit_trail(db);
      EXPECT_EQ(trail->decisions("alice"), alice);
      for (std::uint64_t e = 8; e < 15; ++e) {
        alice.push_back(make_record("alice", e));
        trail->record(alice.back(), make_state("alice", e));
      }
      ASSERT_TRUE(alice[8].decision.follow_up);
      ASSERT_TRUE(alice[14].decision.consolidation);
    }
    auto trail = open_audit_trail(db);
    EXPECT_EQ(trail->decisions("alice"), alice);
  }
}

TEST(AuditTrail, RecordsConvertToJsonAndBack) {
  for (std::uint64_t e : {0u, 1u, 4u}) {
    const AuditRecord r = make_record("alice", e, "m");
    const nlohmann::json j = r;
    EXPECT_EQ(j.at("time"), format_rfc3339(r.time));
    EXPECT_EQ(j.at("nll").is_null(), !r.nll.has_value());
    EXPECT_EQ(j.get<AuditRecord>(), r) << j.dump();
  }
  nlohmann::json bad = make_record("alice", 1);
  bad["shift_state"] = "shifty";
  EXPECT_THROW(
      {
        try {
          (void)bad.get<AuditRecord>();
        } catch (const ConfigError& e) {
          EXPECT_THAT(e.what(), HasSubstr("audit_record.shift_state: \"shifty\""));
          throw;
        }
      },
      ConfigError);
  const UpdateRecord u{"bob", 3, make_report(3)};
  const UpdateRecord back = nlohmann::json(u).get<UpdateRecord>();
  expect_same_update(back, u);
}

TEST(AuditTrail, DecisionsFromEventWithLimit) {
  testing::TempDir dir;
  auto trail = open_audit_trail(dir / "audit.db");
  for (std::uint64_t e = 0; e < 30; ++e) trail->record(make_record("u", e), make_state("u", e));
  const auto events_of = [](const std::vector<AuditRecord>& v) {
    std::vector<std::uint64_t> out;
    for (const auto& r : v) out.push_back(r.event);
    return out;
  };
  EXPECT_EQ(events_of(trail->decisions("u", 10, 3)), (std::vector<std::uint64_t>{10, 11, 12}));
  EXPECT_EQ(events_of(trail->decisions("u", 27)), (std::vector<std::uint64_t>{27, 28, 29}));
  EXPECT_EQ(trail->decisions("u", 0, 5).size(), 5u);
  EXPECT_TRUE(trail->decisions("u", 30).empty());
  EXPECT_TRUE(trail->decisions("u", 5, 0).empty());
  EXPECT_TRUE(trail->decisions("u", std::numeric_limits<std::uint64_t>::max()).empty());
  EXPECT_EQ(trail->decisions("u", 29, 100)[0], make_record("u", 29));
}

TEST(AuditTrail, StateIsReplacedAndProgressKeysAreIndependent) {
  testing::TempDir dir;
  auto trail = open_audit_trail(dir / "audit.db");
  trail->record(make_record("u", 0), {{"v", 1}}, {{"a", 10}, {"b", 20}});
  trail->record(make_record("u", 1), nlohmann::json::array({1, 2}), {{"a", 11}});
  trail->record(make_record("v", 0), nullptr);
  EXPECT_EQ(trail->user_state("u"), nlohmann::json::array({1, 2}));
  EXPECT_EQ(trail->user_state("v"), nlohmann::json(nullptr));
  EXPECT_EQ(trail->progress("a"), 11);
  EXPECT_EQ(trail->progress("b"), 20);
  trail->record(make_record("v", 1), {}, {{"b", -5}, {"b", 7}});  // the last value given wins
  EXPECT_EQ(trail->progress("b"), 7);
}

TEST(AuditTrail, KeepingTheStateRecordsTheDecisionAndProgressOnly) {
  testing::TempDir dir;
  const fs::path db = dir / "audit.db";
  {
    auto trail = open_audit_trail(db);
    trail->record(make_record("u", 0), {{"s", 0}}, {{"a", 1}});
    trail->record_keeping_state(make_record("u", 1), {{"a", 2}});
    trail->record_keeping_state(make_record("u", 2));
    EXPECT_EQ(trail->events("u"), 3u);
    EXPECT_EQ(trail->decisions("u", 1)[0], make_record("u", 1));
    EXPECT_EQ(trail->user_state("u"), (nlohmann::json{{"s", 0}}));
    EXPECT_EQ(trail->progress("a"), 2);
    // A user without a recorded state has nothing to keep: refused, nothing stored.
    try {
      trail->record_keeping_state(make_record("v", 0), {{"a", 9}});
      FAIL() << "no exception";
    } catch (const InvalidArgument& e) {
      EXPECT_THAT(e.what(), HasSubstr("user \"v\" event 0: the user has no recorded state"));
    }
    EXPECT_EQ(trail->events("v"), 0u);
    EXPECT_EQ(trail->progress("a"), 2);
    EXPECT_EQ(trail->users(), (std::vector<UserId>{"u"}));
    // Order is still checked.
    EXPECT_THROW(trail->record_keeping_state(make_record("u", 5)), InvalidArgument);
    trail->record(make_record("u", 3), {{"s", 3}});
  }
  auto trail = open_audit_trail(db);
  EXPECT_EQ(trail->events("u"), 4u);
  EXPECT_EQ(trail->user_state("u"), (nlohmann::json{{"s", 3}}));
  trail->forget("u");  // a forgotten user starts again with a state
  EXPECT_THROW(trail->record_keeping_state(make_record("u", 0)), InvalidArgument);
  EXPECT_EQ(trail->events("u"), 0u);
}

TEST(AuditTrail, UpdatesOnlyForRecordedDecisions) {
  testing::TempDir dir;
  auto trail = open_audit_trail(dir / "audit.db");
  EXPECT_FALSE(trail->record_update({"u", 0, make_report(0)}));  // unknown user
  trail->record(make_record("u", 0), {});
  trail->record(make_record("u", 1), {});
  EXPECT_FALSE(trail->record_update({"u", 2, make_report(0)}));  // not yet decided
  EXPECT_TRUE(trail->record_update({"u", 1, make_report(1)}));
  EXPECT_TRUE(trail->record_update({"u", 0, make_report(2)}));  // in the order recorded
  const auto updates = trail->updates("u");
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(updates[0].event, 1u);
  EXPECT_EQ(updates[1].event, 0u);
  EXPECT_THROW(trail->record_update({"", 0, make_report(0)}), InvalidArgument);
}

TEST(AuditTrail, OutOfOrderEventsAreRefused) {
  testing::TempDir dir;
  const fs::path db = dir / "audit.db";
  auto trail = open_audit_trail(db);
  try {
    trail->record(make_record("alice", 1), {}, {{"k", 1}});
    FAIL() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("audit trail " + db.string() +
                                    ": user \"alice\": event 1 is "
                                    "out of order, the next event to record is 0"));
  }
  trail->record(make_record("alice", 0), {{"s", 0}}, {{"k", 1}});
  trail->record(make_record("alice", 1), {{"s", 1}}, {{"k", 2}});
  for (std::uint64_t e : {0u, 1u, 3u}) {  // a repeat, a duplicate, a gap
    try {
      trail->record(make_record("alice", e), {{"s", 9}}, {{"k", 9}});
      FAIL() << "no exception for event " << e;
    } catch (const InvalidArgument& ex) {
      EXPECT_THAT(ex.what(), HasSubstr("event " + std::to_string(e) +
                                       " is out of order, the next event to record is 2"));
    }
  }
  // Nothing of the refused records was stored.
  EXPECT_EQ(trail->events("alice"), 2u);
  EXPECT_EQ(trail->user_state("alice"), (nlohmann::json{{"s", 1}}));
  EXPECT_EQ(trail->progress("k"), 2);
}

TEST(AuditTrail, InvalidRecordsAreRefusedAndStoreNothing) {
  testing::TempDir dir;
  auto trail = open_audit_trail(dir / "audit.db");
  const auto refused = [&](AuditRecord r, const nlohmann::json& state, const std::string& what,
                           std::vector<std::pair<std::string, std::int64_t>> progress = {}) {
    try {
      trail->record(r, state, progress);
      ADD_FAILURE() << "no exception for " << what;
    } catch (const InvalidArgument& e) {
      EXPECT_THAT(e.what(), HasSubstr(what));
    }
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  AuditRecord r = make_record("alice", 0);
  r.p_value = nan;
  refused(r, {}, "user \"alice\" event 0: p_value nan is not in [0, 1]");
  r.p_value = 1.5;
  refused(r, {}, "p_value 1.500000 is not in [0, 1]");
  r.p_value = -0.0001;
  refused(r, {}, "is not in [0, 1]");
  r = make_record("alice", 0);
  r.nll = inf;
  refused(r, {}, "nll inf is not finite");
  r = make_record("alice", 0);
  r.decision.sample_weight = nan;
  refused(r, {}, "decision.sample_weight nan is not finite");
  r = make_record("alice", 0);
  refused(r, {{"s", "\xff"}}, "user state cannot be written as JSON");
  r.scores = {{"bad", "\xc3"}};
  refused(r, {}, "scores cannot be written as JSON");
  r = make_record("alice", 0);
  refused(r, {}, "empty progress key", {{"", 1}});
  r.user = "bad\nid";
  EXPECT_THROW(trail->record(r, {}), InvalidArgument);
  EXPECT_EQ(trail->events("alice"), 0u);
  EXPECT_TRUE(trail->users().empty());
  // p-values 0 and 1 are valid.
  r = make_record("alice", 0);
  r.p_value = 0.0;
  trail->record(r, {});
  r = make_record("alice", 1);
  r.p_value = 1.0;
  trail->record(r, {});
  EXPECT_EQ(trail->decisions("alice")[0].p_value, 0.0);
  EXPECT_EQ(trail->decisions("alice")[1].p_value, 1.0);
}

TEST(AuditTrail, AFailedCommitStoresNothing) {
  testing::TempDir dir;
  const fs::path db = dir / "audit.db";
  auto trail = open_audit_trail(db);
  trail->record(make_record("u", 0), {{"s", 0}}, {{"k", 1}});
  // Another connection breaks the table the progress goes to: the next record fails at its last
  // statement, after the decision and the state were written in the same transaction.
  exec_sql(db, "DROP TABLE progress");
  try {
    trail->record(make_record("u", 1), {{"s", 1}}, {{"k", 2}});
    FAIL() << "no exception";
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("audit trail " + db.string() +
                                    ": recording user \"u\" event 1 failed, nothing of it was "
                                    "stored"));
    EXPECT_THAT(e.what(), HasSubstr("progress"));
  }
  EXPECT_EQ(trail->events("u"), 1u);
  EXPECT_EQ(trail->decisions("u").size(), 1u);
  EXPECT_EQ(trail->user_state("u"), (nlohmann::json{{"s", 0}}));
  // Without progress the record goes through, as the next event.
  trail->record(make_record("u", 1), {{"s", 1}});
  EXPECT_EQ(trail->decisions("u").size(), 2u);
}

TEST(AuditTrail, BadPathsAreClearErrors) {
  testing::TempDir dir;
  const fs::path missing = dir / "no_such_folder" / "audit.db";
  try {
    open_audit_trail(missing);
    FAIL() << "no exception";
  } catch (const IoError& e) {
    EXPECT_THAT(e.what(), HasSubstr("audit trail " + missing.string() + ": folder " +
                                    (dir / "no_such_folder").string() + " does not exist"));
  }
  testing::write_file(dir / "a_file", "x");
  EXPECT_THROW(open_audit_trail(dir / "a_file" / "audit.db"), IoError);
  EXPECT_THROW(open_audit_trail(""), InvalidArgument);
  // A lock file that cannot be created (here a folder in its place; root may write anywhere).
  fs::create_directory(dir / "locked.db.lock");
  try {
    open_audit_trail(dir / "locked.db");
    FAIL() << "no exception";
  } catch (const IoError& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("audit trail " + (dir / "locked.db").string() +
                          ": cannot create lock file " + (dir / "locked.db.lock").string()));
  }
}

TEST(AuditTrail, UnwritableFolderIsAClearError) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: file permissions do not apply";
  testing::TempDir dir;
  const fs::path ro = dir / "read_only";
  fs::create_directory(ro);
  ::chmod(ro.c_str(), 0555);
  try {
    open_audit_trail(ro / "audit.db");
    ADD_FAILURE() << "no exception";
  } catch (const IoError& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("cannot create lock file " + (ro / "audit.db").string() + ".lock"));
  }
  ::chmod(ro.c_str(), 0755);
}

TEST(AuditTrail, FilesThatAreNotAuditTrailsAreRefused) {
  testing::TempDir dir;
  const auto refused = [&](const fs::path& path, const std::string& what) {
    try {
      open_audit_trail(path);
      ADD_FAILURE() << "no exception for " << path;
    } catch (const StoreError& e) {
      EXPECT_THAT(e.what(), HasSubstr(path.string()));
      EXPECT_THAT(e.what(), HasSubstr(what));
    }
  };
  testing::write_file(dir / "text.db", std::string(4096, 'x'));
  refused(dir / "text.db", "file is not a database");
  EXPECT_EQ(testing::read_file(dir / "text.db"), std::string(4096, 'x'));  // left as it was

  { SqliteStore store((dir / "history.db").string()); }
  refused(dir / "history.db", "is an SQLite database but not an oap audit trail");

  { open_audit_trail(dir / "newer.db"); }
  exec_sql(dir / "newer.db", "UPDATE audit_meta SET value = '4' WHERE key = 'schema'");
  refused(dir / "newer.db",
          "has schema version \"4\", this build reads version 3 (written by a newer oap");

  { open_audit_trail(dir / "other.db"); }
  exec_sql(dir / "other.db", "UPDATE audit_meta SET value = 'x.y' WHERE key = 'format'");
  refused(dir / "other.db", "audit_meta names format \"x.y\", expected \"oap.audit_trail\"");

  // A trail is also refused where a history store is expected.
  EXPECT_THROW(SqliteStore((dir / "newer.db").string()), StoreError);
}

TEST(AuditTrail, ASecondOpenOfTheSameFileIsRefused) {
  testing::TempDir dir;
  const fs::path db = dir / "audit.db";
  {
    auto trail = open_audit_trail(db);
    try {
      open_audit_trail(db);
      FAIL() << "no exception";
    } catch (const StoreError& e) {
      EXPECT_THAT(e.what(), HasSubstr("audit trail " + db.string() + " is already open"));
    }
  }
  EXPECT_NO_THROW(open_audit_trail(db));  // released on close
}

TEST(AuditTrail, CorruptRowsAreReportedNotReturned) {
  testing::TempDir dir;
  const fs::path db = dir / "audit.db";
  {
    auto trail = open_audit_trail(db);
    trail->record(make_record("u", 0), {});
    trail->record(make_record("u", 1), {});
  }
  exec_sql(db, "UPDATE decisions SET action = 'explode' WHERE event = 1");
  auto trail = open_audit_trail(db);
  EXPECT_EQ(trail->decisions("u", 0, 1).size(), 1u);
  try {
    trail->decisions("u");
    FAIL() << "no exception";
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("audit trail " + db.string() +
                                    ": user \"u\" event 1: unknown action \"explode\""));
  }
}

TEST(AuditTrail, ForgetLeavesNoByteOfTheUserInAnyFile) {
  testing::TempDir dir;
  const fs::path folder = dir / "trail";
  fs::create_directory(folder);
  const std::string marker = "FORGET-ME-7f3a9c";  // in reasons, scores, state and reports
  const std::string keep = "KEEP-ME-51e4b7";
  auto trail = open_audit_trail(folder / "audit.db");
  // Interleaved with two other users, so the forgotten rows share pages with kept ones; enough
  // of them to fill many pages and start overflow pages for the large state.
  const std::string big(6000, 'z');
  for (std::uint64_t e = 0; e < 400; ++e) {
    trail->record(make_record("victim", e, marker), make_state("victim", e, marker + big));
    trail->record(make_record("keeper", e, keep), make_state("keeper", e, keep));
    trail->record(make_record("other", e), make_state("other", e));
    if (e % 50 == 0) {
      ASSERT_TRUE(trail->record_update({"victim", e, make_report(static_cast<int>(e), marker)}));
      ASSERT_TRUE(trail->record_update({"keeper", e, make_report(static_cast<int>(e), keep)}));
    }
  }
  // The scan finds what is there (in the log, the database or both).
  ASSERT_FALSE(files_containing(folder, marker).empty());
  ASSERT_FALSE(files_containing(folder, "victim").empty());
  const auto keeper_before = trail->decisions("keeper");

  EXPECT_EQ(trail->forget("victim"), 400u);
  EXPECT_EQ(trail->events("victim"), 0u);
  EXPECT_TRUE(trail->decisions("victim").empty());
  EXPECT_TRUE(trail->updates("victim").empty());
  EXPECT_EQ(trail->user_state("victim"), std::nullopt);
  EXPECT_EQ(trail->users(), (std::vector<UserId>{"keeper", "other"}));
  EXPECT_EQ(files_containing(folder, marker), std::vector<std::string>{})
      << "the marker is still in these files";
  EXPECT_EQ(files_containing(folder, "\"victim\""), std::vector<std::string>{});
  // The other users are intact.
  EXPECT_EQ(trail->decisions("keeper"), keeper_before);
  EXPECT_EQ(trail->updates("keeper").size(), 8u);
  EXPECT_EQ(trail->user_state("keeper"), make_state("keeper", 399, keep));
  EXPECT_EQ(trail->events("other"), 400u);
  EXPECT_EQ(trail->forget("victim"), 0u);
  // The user starts again at event 0, and survives a reopen.
  trail->record(make_record("victim", 0), make_state("victim", 0));
  trail.reset();
  trail = open_audit_trail(folder / "audit.db");
  EXPECT_EQ(trail->events("victim"), 1u);
  EXPECT_EQ(trail->events("keeper"), 400u);
  EXPECT_EQ(files_containing(folder, marker), std::vector<std::string>{});
}

TEST(AuditTrail, ConcurrentWritersReadersAndForget) {
  testing::TempDir dir;
  auto trail = open_audit_trail(dir / "audit.db");
  constexpr int kWriters = 4, kUsersPerWriter = 3, kEvents = 60;
  std::atomic<int> writers_left{kWriters};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int e = 0; e < kEvents; ++e) {
        for (int k = 0; k < kUsersPerWriter; ++k) {
          const UserId user = writer_user(w, k);
          trail->record(make_record(user, static_cast<std::uint64_t>(e)),
                        make_state(user, static_cast<std::uint64_t>(e)),
                        {{writer_key(w), e * kUsersPerWriter + k + 1}});
          if (e % 10 == 0)
            trail->record_update({user, static_cast<std::uint64_t>(e), make_report(e)});
        }
      }
      writers_left.fetch_sub(1);
    });
  }
  // A user recorded and forgotten over and over (forget holds every reader while it truncates).
  threads.emplace_back([&] {
    while (writers_left.load() > 0) {
      for (std::uint64_t e = 0; e < 5; ++e) trail->record(make_record("churn", e), {});
      EXPECT_EQ(trail->forget("churn"), 5u);
    }
  });
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&, r] {
      while (writers_left.load() > 0) {
        const UserId user = writer_user(r % kWriters, r % 3);
        const auto before = trail->events(user);
        const auto decisions = trail->decisions(user);
        EXPECT_GE(decisions.size(), before);
        for (std::size_t i = 0; i < decisions.size(); ++i) {
          ASSERT_EQ(decisions[i], make_record(user, i));
        }
        if (auto state = trail->user_state(user)) {
          EXPECT_GE(state->at("events"), before);
        }
        (void)trail->updates(user);
        (void)trail->progress("writer0");
        (void)trail->users();
        (void)trail->decisions("churn");
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int w = 0; w < kWriters; ++w) {
    EXPECT_EQ(trail->progress(writer_key(w)), kEvents * kUsersPerWriter);
    for (int k = 0; k < kUsersPerWriter; ++k) {
      const UserId user = writer_user(w, k);
      EXPECT_EQ(trail->events(user), static_cast<std::uint64_t>(kEvents));
      EXPECT_EQ(trail->decisions(user).size(), static_cast<std::size_t>(kEvents));
      EXPECT_EQ(trail->updates(user).size(), static_cast<std::size_t>(kEvents / 10));
      EXPECT_EQ(trail->user_state(user), make_state(user, kEvents - 1));
    }
  }
  EXPECT_EQ(trail->users().size(), static_cast<std::size_t>(kWriters * kUsersPerWriter));
}

}  // namespace
}  // namespace oap
