#pragma once
// Private: SqliteAuditTrail, the AuditTrail of open_audit_trail (one SQLite file, WAL mode).

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "oap/core/mutex.hpp"
#include "oap/core/thread_annotations.hpp"
#include "oap/policy/audit_trail.hpp"
#include "store/sqlite_connection.hpp"

namespace oap::detail {

// "warmup" | "none" | "transient" | "sustained" -> ShiftState (shift_state_name's inverse).
std::optional<ShiftState> parse_shift_state(std::string_view name);

// The audit trail in one SQLite database (schema: docs/file-formats.md, "Audit trail").
// One writer connection, used under write_mu_, commits; kReadConnections reader connections,
// each used under its own mutex, serve reads beside it (WAL). A user's id and event count are
// mirrored in memory (users_), so that record() checks the event order and events() answers
// without a query. Thread safety: as AuditTrail (every method safe concurrently).
class SqliteAuditTrail final : public AuditTrail {
 public:
  // Opens or creates the trail at path; the errors of open_audit_trail.
  explicit SqliteAuditTrail(std::filesystem::path path);
  ~SqliteAuditTrail() override;
  SqliteAuditTrail(const SqliteAuditTrail&) = delete;
  SqliteAuditTrail& operator=(const SqliteAuditTrail&) = delete;

  void record(const AuditRecord& r, const nlohmann::json& user_state,
              const std::vector<std::pair<std::string, std::int64_t>>& progress) override;
  void record_keeping_state(
      const AuditRecord& r,
      const std::vector<std::pair<std::string, std::int64_t>>& progress) override;
  bool record_update(const UpdateRecord& u) override;
  std::uint64_t events(const UserId& user) const override;
  std::vector<AuditRecord> decisions(const UserId& user, std::uint64_t from_event,
                                     std::size_t limit) const override;
  std::vector<UpdateRecord> updates(const UserId& user) const override;
  std::optional<nlohmann::json> user_state(const UserId& user) const override;
  std::optional<std::int64_t> progress(const std::string& key) const override;
  std::vector<UserId> users() const override;
  std::size_t forget(const UserId& user) override;

  // Reader connections.
  static constexpr std::size_t kReadConnections = 4;

 private:
  struct UserEntry {
    std::int64_t id;       // users.id
    std::uint64_t events;  // decisions recorded
  };
  // The writer's statements (besides the connection's begin/commit/rollback).
  struct WriterStatements {
    sqlite3_stmt* insert_user = nullptr;
    sqlite3_stmt* update_state = nullptr;
    sqlite3_stmt* insert_decision = nullptr;
    sqlite3_stmt* set_progress = nullptr;
    sqlite3_stmt* insert_update = nullptr;
    sqlite3_stmt* delete_decisions = nullptr;
    sqlite3_stmt* delete_updates = nullptr;
    sqlite3_stmt* delete_user = nullptr;
  };
  // A reader connection and its statements, used only under mu (picked by with_reader; the
  // thread-safety analysis cannot follow that pick, so these fields are not annotated).
  struct Reader {
    Mutex mu;
    std::unique_ptr<SqliteConnection> conn;
    sqlite3_stmt* decisions = nullptr;
    sqlite3_stmt* updates = nullptr;
    sqlite3_stmt* state = nullptr;
    sqlite3_stmt* progress = nullptr;
  };

  void open_database() OAP_EXCLUDES(write_mu_, users_mu_);
  // record() and record_keeping_state(): user_state null keeps the stored state.
  void record_with(const AuditRecord& r, const nlohmann::json* user_state,
                   const std::vector<std::pair<std::string, std::int64_t>>& progress)
      OAP_EXCLUDES(write_mu_, users_mu_);
  std::optional<UserEntry> find_user(const UserId& user) const OAP_EXCLUDES(users_mu_);
  // Checkpoints the log into the database and truncates it to 0 bytes, with every reader held.
  void truncate_log_locked() OAP_REQUIRES(write_mu_);
  // Runs f(Reader&) on a free reader connection (or waits for one), under its mutex.
  template <typename F>
  auto with_reader(F&& f) const;
  // "audit trail <path>": names the file in errors.
  const std::string& where() const { return where_; }

  std::filesystem::path path_;
  std::string where_;
  int lock_fd_ = -1;

  mutable Mutex write_mu_;
  std::unique_ptr<SqliteConnection> writer_ OAP_GUARDED_BY(write_mu_);
  WriterStatements ws_ OAP_GUARDED_BY(write_mu_);
  std::int64_t next_user_id_ OAP_GUARDED_BY(write_mu_) = 1;
  // A forget() whose deletion committed but whose log truncation failed: the next forget()
  // truncates even for an unknown user.
  bool truncate_owed_ OAP_GUARDED_BY(write_mu_) = false;

  // Lock order: write_mu_, then the readers' mutexes (in index order), then users_mu_.
  mutable SharedMutex users_mu_ OAP_ACQUIRED_AFTER(write_mu_);
  std::unordered_map<UserId, UserEntry> users_ OAP_GUARDED_BY(users_mu_);

  std::vector<std::unique_ptr<Reader>> readers_;
  mutable std::atomic<std::size_t> next_reader_{0};
};

}  // namespace oap::detail
