#include "store/sqlite_connection.hpp"

#include "oap/core/error.hpp"

namespace oap::detail {

SqliteConnection::SqliteConnection(const std::string& file, bool create,
                                   const StoreOptions& options)
    : path(file) {
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

SqliteConnection::~SqliteConnection() {
  for (sqlite3_stmt* s : statements_) sqlite3_finalize(s);
  sqlite3_close_v2(db);
}

void SqliteConnection::fail(const std::string& what) const {
  OAP_THROW(StoreError, "SQLite database " + path + ": " + what + ": " + sqlite3_errmsg(db));
}

void SqliteConnection::check(int rc, const std::string& what) const {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) fail(what);
}

void SqliteConnection::exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    OAP_THROW(StoreError,
              "SQLite database " + path + ": " + msg + " (in: " + sql.substr(0, 60) + ")");
  }
}

sqlite3_stmt* SqliteConnection::prepare(const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  check(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr),
        std::string("prepare ") + sql);
  statements_.push_back(stmt);
  return stmt;
}

void SqliteConnection::step_done(sqlite3_stmt* stmt, const char* what) {
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) fail(what);
}

std::string SqliteConnection::query_text(const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  check(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), std::string("prepare ") + sql);
  int rc = sqlite3_step(stmt);
  std::string out;
  if (rc == SQLITE_ROW && sqlite3_column_text(stmt, 0)) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  check(rc, sql);
  return out;
}

void SqliteConnection::prepare_writer() {
  begin = prepare("BEGIN IMMEDIATE");
  commit = prepare("COMMIT");
  rollback = prepare("ROLLBACK");
  insert_inbox = prepare("INSERT INTO inbox(seq, n, data) VALUES(?1,?2,?3)");
  insert_user = prepare("INSERT INTO users(id, name, dim) VALUES(?1,?2,?3)");
  set_next_seq = prepare("UPDATE oap_meta SET value = ?1 WHERE key = 'next_seq'");
  insert_block = prepare(
      "INSERT INTO blocks(user_id, last_ts, last_seq, first_ts, n, data) "
      "VALUES(?1,?2,?3,?4,?5,?6)");
  clear_inbox = prepare("DELETE FROM inbox");
  delete_blocks = prepare("DELETE FROM blocks WHERE user_id = ?1");
  count_blocks = prepare("SELECT coalesce(sum(n), 0) FROM blocks WHERE user_id = ?1");
  delete_user = prepare("DELETE FROM users WHERE id = ?1");
}

void SqliteConnection::prepare_reader() {
  exec("PRAGMA query_only = 1");
  // Reads of a large database go through the OS page cache; mapping the file saves a read()
  // system call and a copy per page that SQLite's own cache does not hold.
  exec("PRAGMA mmap_size = 17179869184");
  // A user's blocks, newest last event first (the index order, read backwards).
  recent = prepare(
      "SELECT last_ts, last_seq, data FROM blocks WHERE user_id = ?1 "
      "ORDER BY last_ts DESC, last_seq DESC");
  // Blocks that may hold events in [?2, ?3): they end at or after ?2 and start before ?3.
  range = prepare("SELECT data FROM blocks WHERE user_id = ?1 AND last_ts >= ?2 AND first_ts < ?3");
  count = prepare("SELECT coalesce(sum(n), 0) FROM blocks WHERE user_id = ?1");
}

}  // namespace oap::detail
