#pragma once
// Private to SqliteStore: one SQLite connection with its prepared statements.

#include <sqlite3.h>

#include <mutex>
#include <string>
#include <vector>

#include "oap/core/event.hpp"
#include "oap/store/store_options.hpp"

namespace oap::detail {

// Resets a prepared statement (and its bindings) when it goes out of scope.
struct ResetOnExit {
  sqlite3_stmt* stmt;
  ~ResetOnExit() {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
  }
};

// An event as stored: the (ts, seq) key orders a user's events.
struct StoredEvent {
  std::int64_t seq;
  Event event;
};

// One connection. Not thread-safe: the writer is used under SqliteStore's write lock, each
// reader under its own mutex `mu`. Owns its sqlite3 handle and statements.
class SqliteConnection {
 public:
  // Opens file (creating it if create); throws StoreError naming the file on failure.
  SqliteConnection(const std::string& file, bool create, const StoreOptions& options);
  ~SqliteConnection();
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  [[noreturn]] void fail(const std::string& what) const;
  void check(int rc, const std::string& what) const;
  void exec(const std::string& sql);
  sqlite3_stmt* prepare(const char* sql);
  // Steps a statement that returns no rows that matter.
  void step_done(sqlite3_stmt* stmt, const char* what);
  // Runs a one-row, one-column query and returns its text ("" if no row).
  std::string query_text(const char* sql);

  void prepare_writer();
  void prepare_reader();

  sqlite3* db = nullptr;
  std::string path;
  std::mutex mu;

  // Writer statements.
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_stmt* rollback = nullptr;
  sqlite3_stmt* insert_inbox = nullptr;
  sqlite3_stmt* insert_user = nullptr;
  sqlite3_stmt* set_next_seq = nullptr;
  sqlite3_stmt* insert_block = nullptr;
  sqlite3_stmt* clear_inbox = nullptr;
  sqlite3_stmt* delete_blocks = nullptr;
  sqlite3_stmt* count_blocks = nullptr;
  sqlite3_stmt* delete_user = nullptr;
  // Reader statements (on the blocks table only; the inbox is mirrored in memory).
  sqlite3_stmt* recent = nullptr;
  sqlite3_stmt* range = nullptr;
  sqlite3_stmt* count = nullptr;

 private:
  std::vector<sqlite3_stmt*> statements_;
};

// Runs body inside BEGIN IMMEDIATE ... COMMIT on the writer; rolls back and rethrows on error.
template <typename Body>
void in_transaction(SqliteConnection& w, Body&& body) {
  w.step_done(w.begin, "begin transaction");
  sqlite3_reset(w.begin);
  try {
    body();
    w.step_done(w.commit, "commit");
    sqlite3_reset(w.commit);
  } catch (...) {
    sqlite3_reset(w.commit);
    sqlite3_step(w.rollback);
    sqlite3_reset(w.rollback);
    throw;
  }
}

}  // namespace oap::detail
