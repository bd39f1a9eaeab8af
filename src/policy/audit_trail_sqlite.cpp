#include "policy/audit_trail_sqlite.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "core/log.hpp"
#include "oap/core/error.hpp"

namespace oap::detail {
namespace {

constexpr const char* kFormat = "oap.audit_trail";
// 2 added decisions.follow_up (Decision::follow_up), 3 decisions.consolidation
// (Decision::consolidation); older files are migrated on open.
constexpr int kSchemaVersion = 3;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions(
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL,
  event INTEGER NOT NULL,
  time INTEGER NOT NULL,
  action TEXT NOT NULL,
  sample_weight REAL NOT NULL,
  trigger_start INTEGER NOT NULL,
  reason TEXT NOT NULL,
  p_value REAL NOT NULL,
  detector TEXT NOT NULL,
  shift_state TEXT NOT NULL,
  nll REAL,
  learned INTEGER NOT NULL,
  scores TEXT NOT NULL,
  follow_up INTEGER NOT NULL DEFAULT 0,
  consolidation INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX IF NOT EXISTS decisions_by_user ON decisions(user_id, event);
CREATE TABLE IF NOT EXISTS updates(
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL,
  event INTEGER NOT NULL,
  report TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS updates_by_user ON updates(user_id, id);
CREATE TABLE IF NOT EXISTS progress(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO audit_meta(key, value) VALUES('format', 'oap.audit_trail');
INSERT OR IGNORE INTO audit_meta(key, value) VALUES('schema', '3');
)sql";

// Checkpoint after this many log pages (SQLite's default is 1000). Each checkpoint syncs the log
// and the database; a record writes 2-4 pages, mostly the same few (the tables' last leaves, the
// user's row), so fewer, longer checkpoints cost less in all: 1000 pages took 2-4x the time in
// checkpoints of 8192, 32768 about the same (docs/benchmarks.md, "Audit trail"). The log file is
// cut back to kJournalSizeLimit bytes after a checkpoint.
constexpr int kWalAutocheckpointPages = 8192;
constexpr std::int64_t kJournalSizeLimit = 64 << 20;

StoreOptions connection_options() {
  StoreOptions o;
  o.cache_mib = 8;
  return o;
}

// A column's text as bytes (embedded NULs included); "" for NULL.
std::string column_string(sqlite3_stmt* stmt, int col) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
  if (!text) return {};
  return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt, col)));
}

// A column's text parsed as JSON, straight from SQLite's buffer (no copy). Throws
// nlohmann::json::parse_error for text that is not JSON (NULL is "").
nlohmann::json parse_column(sqlite3_stmt* stmt, int col) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
  const auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt, col));
  return text ? nlohmann::json::parse(text, text + n) : nlohmann::json::parse("");
}

void bind_text(sqlite3_stmt* stmt, int index, const std::string& s) {
  sqlite3_bind_text(stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
}

std::int64_t clamp_to_int64(std::uint64_t v) {
  return static_cast<std::int64_t>(std::min<std::uint64_t>(
      v, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())));
}

std::string user_event(const UserId& user, std::uint64_t event) {
  return "user \"" + user + "\" event " + std::to_string(event);
}

// Runs body in one transaction on the writer w. A failure (disk full, an I/O error) rolls it
// back and is a StoreError that says what was being written and that none of it was stored.
template <typename Body>
void transaction(SqliteConnection& w, const std::string& what, Body&& body) {
  try {
    in_transaction(w, std::forward<Body>(body));
  } catch (const StoreError& e) {
    OAP_THROW(StoreError, what + " failed, nothing of it was stored: " + e.what());
  }
}

}  // namespace

SqliteAuditTrail::SqliteAuditTrail(std::filesystem::path path)
    : path_(std::move(path)), where_("audit trail " + path_.string()) {
  OAP_CHECK(!path_.empty(), InvalidArgument, "open_audit_trail: empty database path");
  const auto parent = path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  OAP_CHECK(std::filesystem::is_directory(parent, ec), IoError,
            where_ + ": folder " + parent.string() +
                " does not exist or is not a folder (create it first)");
  const std::string lock_path = path_.string() + ".lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  OAP_CHECK(lock_fd_ >= 0, IoError,
            where_ + ": cannot create lock file " + lock_path + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    OAP_THROW(StoreError, where_ + " is already open, in this or another process (lock " +
                              lock_path + " is held)");
  }
  try {
    open_database();
  } catch (...) {
    readers_.clear();
    {
      MutexLock lock(write_mu_);
      writer_.reset();
    }
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw;
  }
}

// Runs in the constructor, before the trail is shared; takes its locks anyway (uncontended) so
// that every access to the guarded members is checked the same way.
void SqliteAuditTrail::open_database() {
  MutexLock write_lock(write_mu_);
  WriterLock users_lock(users_mu_);
  writer_ =
      std::make_unique<SqliteConnection>(path_.string(), /*create=*/true, connection_options());
  SqliteConnection& w = *writer_;
  // Detects a file that is not SQLite at all (SQLITE_NOTADB) before changing anything.
  w.exec("PRAGMA schema_version");
  // Refuse a database that has tables but is not an audit trail, before creating anything.
  const std::string tables =
      w.query_text("SELECT group_concat(name, ',') FROM sqlite_master WHERE type = 'table'");
  OAP_CHECK(tables.empty() || ("," + tables + ",").find(",audit_meta,") != std::string::npos,
            StoreError,
            where_ +
                " is an SQLite database but not an oap audit trail (no audit_meta table; "
                "tables: " +
                tables + ")");
  const std::string mode = w.query_text("PRAGMA journal_mode = WAL");
  OAP_CHECK(mode == "wal", StoreError,
            where_ + ": cannot switch to WAL mode (got \"" + mode + "\")");
  w.exec("PRAGMA synchronous = NORMAL");
  w.exec("PRAGMA secure_delete = ON");
  w.exec("PRAGMA wal_autocheckpoint = " + std::to_string(kWalAutocheckpointPages));
  w.exec("PRAGMA journal_size_limit = " + std::to_string(kJournalSizeLimit));
  if (tables.empty()) {
    w.exec("BEGIN IMMEDIATE");
    w.exec(kSchema);
    w.exec("COMMIT");
  }
  const std::string format = w.query_text("SELECT value FROM audit_meta WHERE key = 'format'");
  OAP_CHECK(format == kFormat, StoreError,
            where_ + ": audit_meta names format \"" + format + "\", expected \"" + kFormat + "\"");
  std::string version = w.query_text("SELECT value FROM audit_meta WHERE key = 'schema'");
  if (version == "1") {
    // Version 1 had no decisions.follow_up: every decision it holds was not a follow-up.
    w.exec("BEGIN IMMEDIATE");
    w.exec("ALTER TABLE decisions ADD COLUMN follow_up INTEGER NOT NULL DEFAULT 0");
    w.exec("UPDATE audit_meta SET value = '2' WHERE key = 'schema'");
    w.exec("COMMIT");
    logger()->info("{}: migrated from schema version 1 to 2", where_);
    version = "2";
  }
  if (version == "2") {
    // Version 2 had no decisions.consolidation: every decision it holds was not one.
    w.exec("BEGIN IMMEDIATE");
    w.exec("ALTER TABLE decisions ADD COLUMN consolidation INTEGER NOT NULL DEFAULT 0");
    w.exec("UPDATE audit_meta SET value = '3' WHERE key = 'schema'");
    w.exec("COMMIT");
    logger()->info("{}: migrated from schema version 2 to 3", where_);
    version = "3";
  }
  int number = 0;
  const auto [end, ec] = std::from_chars(version.data(), version.data() + version.size(), number);
  const bool numeric = ec == std::errc() && end == version.data() + version.size();
  OAP_CHECK(numeric && number == kSchemaVersion, StoreError,
            where_ + " has schema version \"" + version + "\", this build reads version " +
                std::to_string(kSchemaVersion) +
                (numeric && number > kSchemaVersion ? " (written by a newer oap: open it with that)"
                                                    : ""));

  {
    // A user's events are 0..n-1 without gaps (record() enforces it), so the next one is the
    // largest recorded plus one: one index lookup per user.
    sqlite3_stmt* stmt = w.prepare(
        "SELECT u.id, u.name, "
        "(SELECT coalesce(max(d.event) + 1, 0) FROM decisions d WHERE d.user_id = u.id) "
        "FROM users u");
    ResetOnExit reset{stmt};
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const std::int64_t id = sqlite3_column_int64(stmt, 0);
      const auto events = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 2));
      users_.emplace(column_string(stmt, 1), UserEntry{id, events});
      next_user_id_ = std::max(next_user_id_, id + 1);
    }
    w.check(rc, "read users");
  }

  w.begin = w.prepare("BEGIN IMMEDIATE");
  w.commit = w.prepare("COMMIT");
  w.rollback = w.prepare("ROLLBACK");
  ws_.insert_user = w.prepare("INSERT INTO users(id, name, state) VALUES(?1, ?2, ?3)");
  ws_.update_state = w.prepare("UPDATE users SET state = ?2 WHERE id = ?1");
  ws_.insert_decision = w.prepare(
      "INSERT INTO decisions(user_id, event, time, action, sample_weight, trigger_start, reason, "
      "p_value, detector, shift_state, nll, learned, scores, follow_up, consolidation) "
      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)");
  ws_.set_progress = w.prepare(
      "INSERT INTO progress(key, value) VALUES(?1, ?2) "
      "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  ws_.insert_update = w.prepare("INSERT INTO updates(user_id, event, report) VALUES(?1, ?2, ?3)");
  ws_.delete_decisions = w.prepare("DELETE FROM decisions WHERE user_id = ?1");
  ws_.delete_updates = w.prepare("DELETE FROM updates WHERE user_id = ?1");
  ws_.delete_user = w.prepare("DELETE FROM users WHERE id = ?1");

  logger()->debug("opened {} ({} users)", where_, users_.size());
  for (std::size_t i = 0; i < kReadConnections; ++i) {
    auto r = std::make_unique<Reader>();
    r->conn =
        std::make_unique<SqliteConnection>(path_.string(), /*create=*/false, connection_options());
    SqliteConnection& c = *r->conn;
    c.exec("PRAGMA query_only = 1");
    r->decisions = c.prepare(
        "SELECT event, time, action, sample_weight, trigger_start, reason, p_value, detector, "
        "shift_state, nll, learned, scores, follow_up, consolidation FROM decisions "
        "WHERE user_id = ?1 AND event >= ?2 ORDER BY event LIMIT ?3");
    r->updates = c.prepare("SELECT event, report FROM updates WHERE user_id = ?1 ORDER BY id");
    r->state = c.prepare("SELECT state FROM users WHERE name = ?1");
    r->progress = c.prepare("SELECT value FROM progress WHERE key = ?1");
    readers_.push_back(std::move(r));
  }
}

SqliteAuditTrail::~SqliteAuditTrail() {
  readers_.clear();
  {
    MutexLock lock(write_mu_);
    writer_.reset();
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

template <typename F>
auto SqliteAuditTrail::with_reader(F&& f) const OAP_NO_THREAD_SAFETY_ANALYSIS {
  const std::size_t n = readers_.size();
  const std::size_t start = next_reader_.fetch_add(1, std::memory_order_relaxed) % n;
  Reader* reader = nullptr;
  for (std::size_t i = 0; i < n && !reader; ++i) {
    Reader& r = *readers_[(start + i) % n];
    if (r.mu.try_lock()) reader = &r;
  }
  if (!reader) {
    reader = readers_[start].get();
    reader->mu.lock();
  }
  struct Unlock {
    Mutex& mu;
    ~Unlock() OAP_NO_THREAD_SAFETY_ANALYSIS { mu.unlock(); }
  } unlock{reader->mu};
  return f(*reader);
}

std::optional<SqliteAuditTrail::UserEntry> SqliteAuditTrail::find_user(const UserId& user) const {
  ReaderLock lock(users_mu_);
  auto it = users_.find(user);
  if (it == users_.end()) return std::nullopt;
  return it->second;
}

void SqliteAuditTrail::record(const AuditRecord& r, const nlohmann::json& user_state,
                              const std::vector<std::pair<std::string, std::int64_t>>& progress) {
  record_with(r, &user_state, progress);
}

void SqliteAuditTrail::record_keeping_state(
    const AuditRecord& r, const std::vector<std::pair<std::string, std::int64_t>>& progress) {
  record_with(r, nullptr, progress);
}

void SqliteAuditTrail::record_with(
    const AuditRecord& r, const nlohmann::json* user_state,
    const std::vector<std::pair<std::string, std::int64_t>>& progress) {
  validate_user_id(r.user);
  const auto what = [&] { return where_ + ": " + user_event(r.user, r.event); };
  OAP_CHECK(std::isfinite(r.p_value) && r.p_value >= 0.0 && r.p_value <= 1.0, InvalidArgument,
            what() + ": p_value " + std::to_string(r.p_value) + " is not in [0, 1]");
  OAP_CHECK(std::isfinite(r.decision.sample_weight), InvalidArgument,
            what() + ": decision.sample_weight " + std::to_string(r.decision.sample_weight) +
                " is not finite");
  OAP_CHECK(!r.nll || std::isfinite(*r.nll), InvalidArgument,
            what() + ": nll " + std::to_string(r.nll.value_or(0.0)) +
                " is not finite (leave it absent when there is none)");
  for (const auto& [key, value] : progress) {
    OAP_CHECK(!key.empty(), InvalidArgument, what() + ": empty progress key");
  }
  std::string scores, state;
  try {
    scores = r.scores.dump();
  } catch (const nlohmann::json::exception& e) {
    OAP_THROW(InvalidArgument, what() + ": scores cannot be written as JSON: " + e.what());
  }
  try {
    if (user_state) state = user_state->dump();
  } catch (const nlohmann::json::exception& e) {
    OAP_THROW(InvalidArgument, what() + ": user state cannot be written as JSON: " + e.what());
  }
  const std::string action(action_name(r.decision.action));
  const std::string shift = shift_state_name(r.shift_state);

  MutexLock lock(write_mu_);
  const auto entry = find_user(r.user);
  const std::uint64_t expected = entry ? entry->events : 0;
  OAP_CHECK(r.event == expected, InvalidArgument,
            where_ + ": user \"" + r.user + "\": event " + std::to_string(r.event) +
                " is out of order, the next event to record is " + std::to_string(expected) +
                " (each event is recorded once, in order)");
  OAP_CHECK(entry || user_state, InvalidArgument,
            what() + ": the user has no recorded state to keep (record the first event with one)");
  const std::int64_t id = entry ? entry->id : next_user_id_;
  SqliteConnection& w = *writer_;
  const WriterStatements s = ws_;  // a copy of the pointers: the lambda is checked apart
  transaction(w, where_ + ": recording " + user_event(r.user, r.event), [&] {
    if (entry && user_state) {  // without one, the stored state stays
      ResetOnExit reset{s.update_state};
      sqlite3_bind_int64(s.update_state, 1, id);
      bind_text(s.update_state, 2, state);
      w.step_done(s.update_state, "update user state");
    } else if (!entry) {
      ResetOnExit reset{s.insert_user};
      sqlite3_bind_int64(s.insert_user, 1, id);
      bind_text(s.insert_user, 2, r.user);
      bind_text(s.insert_user, 3, state);
      w.step_done(s.insert_user, "insert user");
    }
    {
      sqlite3_stmt* st = s.insert_decision;
      ResetOnExit reset{st};
      sqlite3_bind_int64(st, 1, id);
      sqlite3_bind_int64(st, 2, static_cast<std::int64_t>(r.event));
      sqlite3_bind_int64(st, 3, to_micros(r.time));
      bind_text(st, 4, action);
      sqlite3_bind_double(st, 5, r.decision.sample_weight);
      sqlite3_bind_int64(st, 6, r.decision.trigger_start);
      bind_text(st, 7, r.decision.reason);
      sqlite3_bind_double(st, 8, r.p_value);
      bind_text(st, 9, r.detector);
      bind_text(st, 10, shift);
      if (r.nll) {
        sqlite3_bind_double(st, 11, *r.nll);
      } else {
        sqlite3_bind_null(st, 11);
      }
      sqlite3_bind_int(st, 12, r.learned ? 1 : 0);
      bind_text(st, 13, scores);
      sqlite3_bind_int(st, 14, r.decision.follow_up ? 1 : 0);
      sqlite3_bind_int(st, 15, r.decision.consolidation ? 1 : 0);
      w.step_done(st, "insert decision");
    }
    for (const auto& [key, value] : progress) {
      ResetOnExit reset{s.set_progress};
      bind_text(s.set_progress, 1, key);
      sqlite3_bind_int64(s.set_progress, 2, value);
      w.step_done(s.set_progress, "set progress");
    }
  });
  // Durable from here on.
  if (!entry) ++next_user_id_;
  WriterLock users_lock(users_mu_);
  users_[r.user] = UserEntry{id, expected + 1};
}

bool SqliteAuditTrail::record_update(const UpdateRecord& u) {
  validate_user_id(u.user);
  std::string report;
  try {
    report = nlohmann::json(u.report).dump();
  } catch (const nlohmann::json::exception& e) {
    OAP_THROW(InvalidArgument, where_ + ": update of " + user_event(u.user, u.event) +
                                   ": report cannot be written as JSON: " + e.what());
  }
  MutexLock lock(write_mu_);
  const auto entry = find_user(u.user);
  if (!entry || u.event >= entry->events) return false;
  SqliteConnection& w = *writer_;
  sqlite3_stmt* st = ws_.insert_update;
  transaction(w, where_ + ": recording the update of " + user_event(u.user, u.event), [&] {
    ResetOnExit reset{st};
    sqlite3_bind_int64(st, 1, entry->id);
    sqlite3_bind_int64(st, 2, static_cast<std::int64_t>(u.event));
    bind_text(st, 3, report);
    w.step_done(st, "insert update");
  });
  return true;
}

std::uint64_t SqliteAuditTrail::events(const UserId& user) const {
  const auto entry = find_user(user);
  return entry ? entry->events : 0;
}

std::vector<AuditRecord> SqliteAuditTrail::decisions(const UserId& user, std::uint64_t from_event,
                                                     std::size_t limit) const {
  const auto entry = find_user(user);
  if (!entry || limit == 0 || from_event >= entry->events) return {};
  return with_reader([&](Reader& reader) {
    sqlite3_stmt* st = reader.decisions;
    ResetOnExit reset{st};
    sqlite3_bind_int64(st, 1, entry->id);
    sqlite3_bind_int64(st, 2, clamp_to_int64(from_event));
    sqlite3_bind_int64(st, 3, clamp_to_int64(limit));
    std::vector<AuditRecord> out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      AuditRecord r;
      r.user = user;
      r.event = static_cast<std::uint64_t>(sqlite3_column_int64(st, 0));
      const auto corrupt = [&](const std::string& what) {
        OAP_THROW(StoreError, where_ + ": " + user_event(user, r.event) + ": " + what +
                                  " (the database is corrupt)");
      };
      r.time = timestamp_from_micros(sqlite3_column_int64(st, 1));
      const std::string action = column_string(st, 2);
      const auto a = parse_action(action);
      if (!a) corrupt("unknown action \"" + action + "\"");
      r.decision.action = *a;
      r.decision.sample_weight = sqlite3_column_double(st, 3);
      r.decision.trigger_start = sqlite3_column_int64(st, 4);
      r.decision.reason = column_string(st, 5);
      r.p_value = sqlite3_column_double(st, 6);
      r.detector = column_string(st, 7);
      const std::string shift = column_string(st, 8);
      const auto state = parse_shift_state(shift);
      if (!state) corrupt("unknown shift state \"" + shift + "\"");
      r.shift_state = *state;
      if (sqlite3_column_type(st, 9) != SQLITE_NULL) r.nll = sqlite3_column_double(st, 9);
      r.learned = sqlite3_column_int(st, 10) != 0;
      try {
        r.scores = parse_column(st, 11);
      } catch (const nlohmann::json::exception& e) {
        corrupt(std::string("scores are not JSON: ") + e.what());
      }
      r.decision.follow_up = sqlite3_column_int(st, 12) != 0;
      r.decision.consolidation = sqlite3_column_int(st, 13) != 0;
      out.push_back(std::move(r));
    }
    reader.conn->check(rc, "read decisions of user \"" + user + "\"");
    return out;
  });
}

std::vector<UpdateRecord> SqliteAuditTrail::updates(const UserId& user) const {
  const auto entry = find_user(user);
  if (!entry) return {};
  return with_reader([&](Reader& reader) {
    sqlite3_stmt* st = reader.updates;
    ResetOnExit reset{st};
    sqlite3_bind_int64(st, 1, entry->id);
    std::vector<UpdateRecord> out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      UpdateRecord u;
      u.user = user;
      u.event = static_cast<std::uint64_t>(sqlite3_column_int64(st, 0));
      try {
        u.report = parse_column(st, 1).get<UpdateReport>();
      } catch (const std::exception& e) {
        OAP_THROW(StoreError, where_ + ": update of " + user_event(user, u.event) +
                                  ": unreadable report (the database is corrupt): " + e.what());
      }
      out.push_back(std::move(u));
    }
    reader.conn->check(rc, "read updates of user \"" + user + "\"");
    return out;
  });
}

std::optional<nlohmann::json> SqliteAuditTrail::user_state(const UserId& user) const {
  return with_reader([&](Reader& reader) -> std::optional<nlohmann::json> {
    sqlite3_stmt* st = reader.state;
    ResetOnExit reset{st};
    bind_text(st, 1, user);
    const int rc = sqlite3_step(st);
    reader.conn->check(rc, "read state of user \"" + user + "\"");
    if (rc != SQLITE_ROW) return std::nullopt;
    try {
      return parse_column(st, 0);
    } catch (const nlohmann::json::exception& e) {
      OAP_THROW(StoreError, where_ + ": state of user \"" + user +
                                "\" is not JSON (the database is corrupt): " + e.what());
    }
  });
}

std::optional<std::int64_t> SqliteAuditTrail::progress(const std::string& key) const {
  return with_reader([&](Reader& reader) -> std::optional<std::int64_t> {
    sqlite3_stmt* st = reader.progress;
    ResetOnExit reset{st};
    bind_text(st, 1, key);
    const int rc = sqlite3_step(st);
    reader.conn->check(rc, "read progress \"" + key + "\"");
    if (rc != SQLITE_ROW) return std::nullopt;
    return sqlite3_column_int64(st, 0);
  });
}

std::vector<UserId> SqliteAuditTrail::users() const {
  std::vector<UserId> out;
  {
    ReaderLock lock(users_mu_);
    out.reserve(users_.size());
    for (const auto& [user, entry] : users_) out.push_back(user);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t SqliteAuditTrail::forget(const UserId& user) {
  validate_user_id(user);
  MutexLock lock(write_mu_);
  const auto entry = find_user(user);
  if (entry) {
    SqliteConnection& w = *writer_;
    const WriterStatements s = ws_;  // a copy of the pointers: the lambda is checked apart
    transaction(w, where_ + ": forgetting user \"" + user + "\"", [&] {
      for (sqlite3_stmt* st : {s.delete_decisions, s.delete_updates, s.delete_user}) {
        ResetOnExit reset{st};
        sqlite3_bind_int64(st, 1, entry->id);
        w.step_done(st, "forget user");
      }
    });
    {
      WriterLock users_lock(users_mu_);
      users_.erase(user);
    }
    // Deleted pages were overwritten with zeros (secure_delete), but the log still holds the
    // frames that wrote them.
    truncate_owed_ = true;
  }
  if (truncate_owed_) {
    truncate_log_locked();
    truncate_owed_ = false;
  }
  return entry ? static_cast<std::size_t>(entry->events) : 0;
}

void SqliteAuditTrail::truncate_log_locked() OAP_NO_THREAD_SAFETY_ANALYSIS {
  // With every reader held, none has a read transaction open, so the checkpoint can copy
  // every frame into the database and truncate the log (no other process has the file open).
  std::vector<std::unique_ptr<MutexLock>> held;
  for (const auto& r : readers_) held.push_back(std::make_unique<MutexLock>(r->mu));
  SqliteConnection& w = *writer_;
  int log_frames = -1, copied = -1;
  const int rc =
      sqlite3_wal_checkpoint_v2(w.db, nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log_frames, &copied);
  OAP_CHECK(rc == SQLITE_OK, StoreError,
            where_ +
                ": the user's records are deleted, but the write-ahead log that held them "
                "could not be truncated (" +
                sqlite3_errmsg(w.db) +
                "); they are overwritten at the next checkpoint, or call forget() again");
}

}  // namespace oap::detail
