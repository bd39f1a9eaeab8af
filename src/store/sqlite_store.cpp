#include "oap/store/sqlite_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "core/log.hpp"
#include "oap/core/error.hpp"

namespace oap {

static_assert(std::endian::native == std::endian::little,
              "SqliteStore stores features as little-endian float32 and assumes a "
              "little-endian host");

namespace {

constexpr const char* kSchemaVersion = "1";

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS oap_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  dim INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events(
  user_id INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  features BLOB NOT NULL,
  text TEXT NOT NULL,
  meta TEXT NOT NULL,
  PRIMARY KEY(user_id, ts, seq)) WITHOUT ROWID;
INSERT OR IGNORE INTO oap_meta(key, value) VALUES('schema', '1');
INSERT OR IGNORE INTO oap_meta(key, value) VALUES('next_seq', '0');
)sql";

// Resets a prepared statement when it goes out of scope, so it can be reused.
struct ResetOnExit {
  sqlite3_stmt* stmt;
  ~ResetOnExit() {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
  }
};

}  // namespace

struct SqliteStore::Connection {
  sqlite3* db = nullptr;
  std::string path;
  std::mutex mu;  // readers only: one thread uses a reader connection at a time
  std::vector<sqlite3_stmt*> statements;

  Connection(const std::string& file, bool create, const StoreOptions& options) : path(file) {
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(file.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
      sqlite3_close_v2(db);
      db = nullptr;
      OAP_THROW(StoreError, "cannot open SQLite database " + file + ": " + msg);
    }
    sqlite3_busy_timeout(db, options.busy_timeout_ms);
    exec("PRAGMA cache_size = -" + std::to_string(options.cache_mib * 1024));
  }
  ~Connection() {
    for (sqlite3_stmt* s : statements) sqlite3_finalize(s);
    sqlite3_close_v2(db);
  }

  [[noreturn]] void fail(const std::string& what) const {
    OAP_THROW(StoreError, "SQLite database " + path + ": " + what + ": " + sqlite3_errmsg(db));
  }
  void check(int rc, const std::string& what) const {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) fail(what);
  }
  void exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      OAP_THROW(StoreError, "SQLite database " + path + ": " + msg + " (in: " + sql.substr(0, 60) + ")");
    }
  }
  sqlite3_stmt* prepare(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    check(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr),
          std::string("prepare ") + sql);
    statements.push_back(stmt);
    return stmt;
  }
  // Runs a statement that returns no rows (or ignores them).
  void step_done(sqlite3_stmt* stmt, const char* what) {
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) fail(what);
  }

  // Writer statements.
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_stmt* rollback = nullptr;
  sqlite3_stmt* insert_event = nullptr;
  sqlite3_stmt* insert_user = nullptr;
  sqlite3_stmt* set_next_seq = nullptr;
  sqlite3_stmt* delete_events = nullptr;
  sqlite3_stmt* delete_user = nullptr;
  // Reader statements.
  sqlite3_stmt* recent = nullptr;
  sqlite3_stmt* range = nullptr;
  sqlite3_stmt* count = nullptr;

  void prepare_writer() {
    begin = prepare("BEGIN IMMEDIATE");
    commit = prepare("COMMIT");
    rollback = prepare("ROLLBACK");
    insert_event = prepare(
        "INSERT INTO events(user_id, ts, seq, features, text, meta) VALUES(?1,?2,?3,?4,?5,?6)");
    insert_user = prepare("INSERT INTO users(id, name, dim) VALUES(?1,?2,?3)");
    set_next_seq = prepare("UPDATE oap_meta SET value = ?1 WHERE key = 'next_seq'");
    delete_events = prepare("DELETE FROM events WHERE user_id = ?1");
    delete_user = prepare("DELETE FROM users WHERE id = ?1");
  }
  void prepare_reader() {
    exec("PRAGMA query_only = 1");
    recent = prepare(
        "SELECT ts, features, text, meta FROM events WHERE user_id = ?1 "
        "ORDER BY ts DESC, seq DESC LIMIT ?2");
    range = prepare(
        "SELECT ts, features, text, meta FROM events WHERE user_id = ?1 AND ts >= ?2 AND "
        "ts < ?3 ORDER BY ts, seq");
    count = prepare("SELECT count(*) FROM events WHERE user_id = ?1");
  }

  // Reads (ts, features, text, meta) from the current row of stmt.
  Event read_event(sqlite3_stmt* stmt, const UserId& user) const {
    Event e;
    e.user = user;
    e.timestamp = timestamp_from_micros(sqlite3_column_int64(stmt, 0));
    const void* blob = sqlite3_column_blob(stmt, 1);
    int bytes = sqlite3_column_bytes(stmt, 1);
    if (bytes % static_cast<int>(sizeof(float)) != 0) {
      OAP_THROW(StoreError, "SQLite database " + path + ": corrupt features of user \"" + user +
                                "\" (" + std::to_string(bytes) + " bytes)");
    }
    e.features.resize(static_cast<std::size_t>(bytes) / sizeof(float));
    if (bytes > 0) std::memcpy(e.features.data(), blob, static_cast<std::size_t>(bytes));
    auto text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 2));
    e.text.assign(text ? text : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt, 2)));
    auto meta = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
    std::string_view meta_text(meta ? meta : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt, 3)));
    if (meta_text != "{}") {
      try {
        e.meta = nlohmann::json::parse(meta_text);
      } catch (const nlohmann::json::exception& ex) {
        OAP_THROW(StoreError, "SQLite database " + path + ": corrupt meta of user \"" + user +
                                  "\": " + ex.what());
      }
    }
    return e;
  }
};

SqliteStore::SqliteStore(std::filesystem::path path, const StoreOptions& options)
    : path_(std::move(path)), options_(options) {
  options_.validate();
  OAP_CHECK(!path_.empty(), InvalidArgument, "SqliteStore: empty database path");
  auto parent = path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
  OAP_CHECK(std::filesystem::is_directory(parent), StoreError,
            "SqliteStore: directory " + parent.string() + " of database " + path_.string() +
                " does not exist");

  std::string lock_path = path_.string() + ".lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  OAP_CHECK(lock_fd_ >= 0, StoreError,
            "SqliteStore: cannot create lock file " + lock_path + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    OAP_THROW(StoreError, "SqliteStore: database " + path_.string() +
                              " is open in another process (lock " + lock_path + " is held)");
  }

  try {
    writer_ = std::make_unique<Connection>(path_.string(), /*create=*/true, options_);
    auto& w = *writer_;
    // Detects a file that is not SQLite at all (SQLITE_NOTADB) before changing anything.
    w.exec("PRAGMA schema_version");
    {
      sqlite3_stmt* stmt = nullptr;
      w.check(sqlite3_prepare_v2(w.db, "PRAGMA journal_mode = WAL", -1, &stmt, nullptr),
              "set WAL mode");
      int rc = sqlite3_step(stmt);
      std::string mode = rc == SQLITE_ROW
                             ? reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))
                             : "";
      sqlite3_finalize(stmt);
      OAP_CHECK(mode == "wal", StoreError,
                "SqliteStore: cannot switch " + path_.string() + " to WAL mode (got \"" + mode + "\")");
    }
    w.exec(options_.sync_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    // Events of many users arrive interleaved, so a batch of k events dirties about
    // min(k, users) leaf pages of the (user, ts, seq) B-tree. With SQLite's default
    // auto-checkpoint (1000 pages) every such commit was followed by a checkpoint that wrote
    // the same hot pages back into the database file again; letting the WAL reach 16384
    // pages (64 MiB at 4 KiB pages) coalesces those writes over several commits. Measured
    // with 10k users and 10000-event commits (bench/store_bench.cpp, docs/benchmarks.md):
    // ~30% less CPU per appended event. journal_size_limit truncates the WAL back after a
    // checkpoint so it does not stay at its peak size on disk. Durability is unchanged: a
    // commit is durable once it is in the WAL.
    w.exec("PRAGMA wal_autocheckpoint = 16384");
    w.exec("PRAGMA journal_size_limit = 67108864");

    // Refuse a database that has tables but is not ours, before creating anything in it.
    bool has_tables = false, has_meta = false;
    {
      sqlite3_stmt* stmt = nullptr;
      w.check(sqlite3_prepare_v2(w.db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1,
                                 &stmt, nullptr),
              "list tables");
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        has_tables = true;
        has_meta = has_meta || std::strcmp(reinterpret_cast<const char*>(
                                               sqlite3_column_text(stmt, 0)), "oap_meta") == 0;
      }
      sqlite3_finalize(stmt);
    }
    OAP_CHECK(!has_tables || has_meta, StoreError,
              "SqliteStore: " + path_.string() +
                  " is an SQLite database but not an oap history store (no oap_meta table)");
    w.exec("BEGIN IMMEDIATE");
    w.exec(kSchema);
    w.exec("COMMIT");

    {
      sqlite3_stmt* stmt = nullptr;
      w.check(sqlite3_prepare_v2(w.db, "SELECT key, value FROM oap_meta", -1, &stmt, nullptr),
              "read oap_meta");
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        std::string key = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
        std::string value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
        if (key == "schema" && value != kSchemaVersion) {
          sqlite3_finalize(stmt);
          OAP_THROW(StoreError, "SqliteStore: " + path_.string() + " has schema version " + value +
                                    ", this build reads version " + kSchemaVersion);
        }
        if (key == "next_seq") next_seq_ = std::stoll(value);
      }
      sqlite3_finalize(stmt);
    }
    {
      sqlite3_stmt* stmt = nullptr;
      w.check(sqlite3_prepare_v2(w.db, "SELECT id, name, dim FROM users", -1, &stmt, nullptr),
              "read users");
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        std::int64_t id = sqlite3_column_int64(stmt, 0);
        std::string name = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
        auto dim = static_cast<std::size_t>(sqlite3_column_int64(stmt, 2));
        users_.emplace(std::move(name), UserEntry{id, dim, true});
        next_user_id_ = std::max(next_user_id_, id + 1);
      }
      sqlite3_finalize(stmt);
    }
    w.prepare_writer();

    for (std::size_t i = 0; i < options_.read_connections; ++i) {
      auto reader = std::make_unique<Connection>(path_.string(), /*create=*/false, options_);
      reader->prepare_reader();
      readers_.push_back(std::move(reader));
    }
  } catch (...) {
    readers_.clear();
    writer_.reset();
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw;
  }
  detail::logger()->debug("opened SQLite store {} ({} users, next seq {})", path_.string(),
                          users_.size(), next_seq_);
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lock(write_mu_);
    try {
      commit_pending_locked();
    } catch (const std::exception& e) {
      detail::logger()->error("SqliteStore {}: {} buffered events not committed at close: {}",
                              path_.string(), pending_.size(), e.what());
    }
  }
  readers_.clear();
  writer_.reset();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void SqliteStore::append(const Event& event) { append_batch(std::span<const Event>(&event, 1)); }

void SqliteStore::append_batch(std::span<const Event> events) {
  if (events.empty()) return;
  for (const Event& e : events) validate_event(e);
  std::lock_guard lock(write_mu_);
  {
    // Check dimensions against known users and within the batch before accepting anything.
    std::unordered_map<UserId, std::size_t> new_dims;
    std::shared_lock users_lock(users_mu_);
    for (std::size_t i = 0; i < events.size(); ++i) {
      const Event& e = events[i];
      std::size_t expected;
      if (auto it = users_.find(e.user); it != users_.end()) {
        expected = it->second.dim;
      } else {
        expected = new_dims.try_emplace(e.user, e.features.size()).first->second;
      }
      OAP_CHECK(e.features.size() == expected, InvalidArgument,
                "event of user \"" + e.user + "\" has " + std::to_string(e.features.size()) +
                    " features, but the user's events have " + std::to_string(expected) +
                    " (batch index " + std::to_string(i) + "; nothing of this batch was stored)");
    }
    users_lock.unlock();
    std::unique_lock users_write(users_mu_);
    for (const auto& [user, dim] : new_dims) {
      users_.emplace(user, UserEntry{next_user_id_++, dim, false});
    }
  }
  pending_.insert(pending_.end(), events.begin(), events.end());
  pending_count_.store(pending_.size(), std::memory_order_release);
  if (options_.durability == Durability::kEveryAppend || pending_.size() >= options_.batch_size) {
    try {
      commit_pending_locked();
    } catch (...) {
      if (options_.durability == Durability::kEveryAppend) {
        // The caller is told this append failed, so nothing of it may appear later.
        pending_.clear();
        pending_count_.store(0, std::memory_order_release);
        std::unique_lock users_write(users_mu_);
        std::erase_if(users_, [](const auto& kv) { return !kv.second.committed; });
      }
      throw;
    }
  }
}

void SqliteStore::commit_pending_locked() {
  if (pending_.empty()) return;
  auto& w = *writer_;
  w.step_done(w.begin, "begin transaction");
  sqlite3_reset(w.begin);
  try {
    std::vector<std::int64_t> user_ids(pending_.size());
    std::vector<UserId> new_users;
    {
      std::shared_lock users_lock(users_mu_);
      std::unordered_set<std::int64_t> inserted;
      for (std::size_t i = 0; i < pending_.size(); ++i) {
        const UserEntry& entry = users_.at(pending_[i].user);
        user_ids[i] = entry.id;
        if (!entry.committed && inserted.insert(entry.id).second) {
          ResetOnExit reset{w.insert_user};
          sqlite3_bind_int64(w.insert_user, 1, entry.id);
          sqlite3_bind_text(w.insert_user, 2, pending_[i].user.data(),
                            static_cast<int>(pending_[i].user.size()), SQLITE_STATIC);
          sqlite3_bind_int64(w.insert_user, 3, static_cast<std::int64_t>(entry.dim));
          w.step_done(w.insert_user, "insert user");
          new_users.push_back(pending_[i].user);
        }
      }
    }
    std::string meta_text;
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      const Event& e = pending_[i];
      ResetOnExit reset{w.insert_event};
      sqlite3_bind_int64(w.insert_event, 1, user_ids[i]);
      sqlite3_bind_int64(w.insert_event, 2, to_micros(e.timestamp));
      sqlite3_bind_int64(w.insert_event, 3, next_seq_ + static_cast<std::int64_t>(i));
      sqlite3_bind_blob(w.insert_event, 4, e.features.empty() ? "" : static_cast<const void*>(e.features.data()),
                        static_cast<int>(e.features.size() * sizeof(float)), SQLITE_STATIC);
      sqlite3_bind_text(w.insert_event, 5, e.text.data(), static_cast<int>(e.text.size()),
                        SQLITE_STATIC);
      meta_text = e.meta.empty() ? std::string("{}") : e.meta.dump();
      sqlite3_bind_text(w.insert_event, 6, meta_text.data(), static_cast<int>(meta_text.size()),
                        SQLITE_STATIC);
      w.step_done(w.insert_event, "insert event");
    }
    {
      ResetOnExit reset{w.set_next_seq};
      sqlite3_bind_int64(w.set_next_seq, 1, next_seq_ + static_cast<std::int64_t>(pending_.size()));
      w.step_done(w.set_next_seq, "update next_seq");
    }
    w.step_done(w.commit, "commit");
    sqlite3_reset(w.commit);
    next_seq_ += static_cast<std::int64_t>(pending_.size());
    pending_.clear();
    pending_count_.store(0, std::memory_order_release);
    std::unique_lock users_write(users_mu_);
    for (const auto& user : new_users) users_.at(user).committed = true;
  } catch (...) {
    sqlite3_reset(w.commit);
    sqlite3_step(w.rollback);
    sqlite3_reset(w.rollback);
    throw;
  }
}

void SqliteStore::commit_if_pending() const {
  if (pending_count_.load(std::memory_order_acquire) == 0) return;
  std::lock_guard lock(write_mu_);
  // Committing buffered appends does not change what the store holds, only where: this is
  // why a const read may do it.
  const_cast<SqliteStore*>(this)->commit_pending_locked();
}

void SqliteStore::flush() {
  std::lock_guard lock(write_mu_);
  commit_pending_locked();
}

std::optional<std::int64_t> SqliteStore::user_id(const UserId& user) const {
  std::shared_lock lock(users_mu_);
  auto it = users_.find(user);
  if (it == users_.end()) return std::nullopt;
  return it->second.id;
}

SqliteStore::Connection& SqliteStore::acquire_reader(std::unique_lock<std::mutex>& lock) const {
  std::size_t n = readers_.size();
  std::size_t start = next_reader_.fetch_add(1, std::memory_order_relaxed) % n;
  for (std::size_t i = 0; i < n; ++i) {
    Connection& c = *readers_[(start + i) % n];
    if (c.mu.try_lock()) {
      lock = std::unique_lock<std::mutex>(c.mu, std::adopt_lock);
      return c;
    }
  }
  lock = std::unique_lock<std::mutex>(readers_[start]->mu);
  return *readers_[start];
}

std::vector<Event> SqliteStore::recent(const UserId& user, std::size_t n) const {
  commit_if_pending();
  auto id = user_id(user);
  if (!id || n == 0) return {};
  std::unique_lock<std::mutex> lock;
  Connection& c = acquire_reader(lock);
  ResetOnExit reset{c.recent};
  sqlite3_bind_int64(c.recent, 1, *id);
  sqlite3_bind_int64(c.recent, 2, static_cast<std::int64_t>(std::min<std::size_t>(n, INT64_MAX)));
  std::vector<Event> out;
  int rc;
  while ((rc = sqlite3_step(c.recent)) == SQLITE_ROW) out.push_back(c.read_event(c.recent, user));
  c.check(rc, "read recent events");
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<Event> SqliteStore::range(const UserId& user, Timestamp t0, Timestamp t1) const {
  commit_if_pending();
  auto id = user_id(user);
  if (!id || t1 <= t0) return {};
  std::unique_lock<std::mutex> lock;
  Connection& c = acquire_reader(lock);
  ResetOnExit reset{c.range};
  sqlite3_bind_int64(c.range, 1, *id);
  sqlite3_bind_int64(c.range, 2, to_micros(t0));
  sqlite3_bind_int64(c.range, 3, to_micros(t1));
  std::vector<Event> out;
  int rc;
  while ((rc = sqlite3_step(c.range)) == SQLITE_ROW) out.push_back(c.read_event(c.range, user));
  c.check(rc, "read event range");
  return out;
}

std::size_t SqliteStore::count(const UserId& user) const {
  commit_if_pending();
  auto id = user_id(user);
  if (!id) return 0;
  std::unique_lock<std::mutex> lock;
  Connection& c = acquire_reader(lock);
  ResetOnExit reset{c.count};
  sqlite3_bind_int64(c.count, 1, *id);
  int rc = sqlite3_step(c.count);
  c.check(rc, "count events");
  return rc == SQLITE_ROW ? static_cast<std::size_t>(sqlite3_column_int64(c.count, 0)) : 0;
}

std::optional<std::size_t> SqliteStore::dimension(const UserId& user) const {
  std::shared_lock lock(users_mu_);
  auto it = users_.find(user);
  if (it == users_.end()) return std::nullopt;
  return it->second.dim;
}

std::vector<UserId> SqliteStore::users() const {
  std::vector<UserId> out;
  {
    std::shared_lock lock(users_mu_);
    out.reserve(users_.size());
    for (const auto& [user, entry] : users_) out.push_back(user);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t SqliteStore::forget(const UserId& user) {
  std::lock_guard lock(write_mu_);
  commit_pending_locked();
  auto id = user_id(user);
  if (!id) return 0;
  auto& w = *writer_;
  w.step_done(w.begin, "begin transaction");
  sqlite3_reset(w.begin);
  std::size_t removed = 0;
  try {
    {
      ResetOnExit reset{w.delete_events};
      sqlite3_bind_int64(w.delete_events, 1, *id);
      w.step_done(w.delete_events, "delete events");
      removed = static_cast<std::size_t>(sqlite3_changes(w.db));
    }
    {
      ResetOnExit reset{w.delete_user};
      sqlite3_bind_int64(w.delete_user, 1, *id);
      w.step_done(w.delete_user, "delete user");
    }
    w.step_done(w.commit, "commit");
    sqlite3_reset(w.commit);
  } catch (...) {
    sqlite3_reset(w.commit);
    sqlite3_step(w.rollback);
    sqlite3_reset(w.rollback);
    throw;
  }
  std::unique_lock users_write(users_mu_);
  users_.erase(user);
  return removed;
}

}  // namespace oap
