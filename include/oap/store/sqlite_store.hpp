#pragma once
// SqliteStore: a durable HistoryStore in one SQLite database file (WAL mode).

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "oap/core/mutex.hpp"
#include "oap/core/thread_annotations.hpp"
#include "oap/store/history_store.hpp"

namespace oap {
namespace detail {
class SqliteConnection;
}

// Appends are committed to an append-only inbox table (one row per committed batch, all users
// mixed) that is mirrored in memory. Once options.inbox_events have gathered they are moved, in one
// transaction, into the blocks table: one row per user holding that user's inbox events packed
// in (timestamp, sequence) order (src/store/event_block.hpp), appended at the end of the table,
// with an index on (user, last timestamp, last sequence). A store move thus writes one row per
// user rather than one per event, and recent() reads the user's newest few blocks instead of
// one row per event. One writer connection commits; options.read_connections reader
// connections serve reads beside it (WAL). Formats: docs/file-formats.md. Durability follows
// options.durability: with kEveryAppend an append is durable when it returns; with kBatched once
// flush() returns (or its batch filled up). Durable means it survives kill -9 of the process (and
// power loss with options.sync_full). Every read first commits the appends made before it, so a
// thread always reads its own writes.
//
// forget(user) leaves no byte of the user's events (text, meta, features) nor the user's name
// in any file of the store: the database, "<path>-wal", "<path>-shm" and "<path>.lock". It moves
// the inbox (its rows mix users), deletes the user's rows (with PRAGMA secure_delete on), then
// scrubs: VACUUM rebuilds the database from its live rows, because SQLite leaves deleted bytes
// in free space, in free pages and in stale copies that rebalancing a b-tree leaves in pages
// when it moves rows (secure_delete zeroes the first two only), and a truncating checkpoint
// then empties the WAL, which holds older copies of pages. The scrub reads and rewrites the
// whole database, so its cost grows with the database, not with the user (~2 s for 125 MiB
// here, docs/benchmarks.md), and it needs free space for a copy of the database in SQLite's
// temporary folder and another in the WAL. Appends wait for it; reads go on, except during the
// checkpoint, which waits for the reads in flight so that no reader of this store can keep it
// from truncating the log. If the scrub fails (no space; another program's connection, which
// the lock file does not stop, holding a read transaction past busy_timeout_ms), forget throws
// StoreError: the user is already gone from every read, the scrub stays pending (recorded in
// the database) and the next forget() of any user, or the next open, finishes it. Beyond this
// store's files: copies elsewhere (backups, the OS page cache, blocks the file system or disk
// has not reused yet) are not in its reach.
//
// Only one process may have a database open at a time (an exclusive lock on "<path>.lock";
// a second open throws StoreError). Within the process: safe for concurrent access without
// external synchronization. If a commit fails (disk full, I/O error), the error is thrown
// from the call that committed; under kBatched the buffered events stay buffered and the next
// flush() retries them, under kEveryAppend the failed call's events are dropped.
class SqliteStore final : public HistoryStore {
 public:
  // Opens (creating if needed) the database at path. Throws StoreError if it cannot be
  // opened, is not an oap database, or is open in another process.
  explicit SqliteStore(std::filesystem::path path, const StoreOptions& options = {});
  // Commits buffered appends (errors are logged, not thrown) and closes.
  ~SqliteStore() override;

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void append(const Event& event) override;
  void append_batch(std::span<const Event> events) override;
  std::vector<Event> recent(const UserId& user, std::size_t n) const override;
  std::vector<Event> range(const UserId& user, Timestamp t0, Timestamp t1) const override;
  std::size_t count(const UserId& user) const override;
  std::optional<std::size_t> dimension(const UserId& user) const override;
  std::vector<UserId> users() const override;
  std::size_t forget(const UserId& user) override;
  void flush() override;

  const std::filesystem::path& path() const { return path_; }

 private:
  using Connection = detail::SqliteConnection;
  struct Inbox;
  struct UserEntry {
    std::int64_t id;
    std::size_t dim;
    bool committed;  // its row is in the users table
  };

  void open_database() OAP_EXCLUDES(write_mu_, users_mu_);
  void commit_pending_locked() OAP_REQUIRES(write_mu_);
  void migrate_inbox_locked() OAP_REQUIRES(write_mu_);
  void commit_if_pending() const OAP_EXCLUDES(write_mu_);
  void scrub_locked() OAP_REQUIRES(write_mu_);
  void truncate_wal_locked() OAP_REQUIRES(write_mu_);
  std::optional<UserEntry> user_entry(const UserId& user) const OAP_EXCLUDES(users_mu_);
  Connection& acquire_reader(std::unique_lock<std::mutex>& lock) const;

  std::filesystem::path path_;
  std::string where_;  // "SQLite database <path>": names the file in errors (built once)
  StoreOptions options_;
  int lock_fd_ = -1;

  mutable Mutex write_mu_;
  std::unique_ptr<Connection> writer_ OAP_GUARDED_BY(write_mu_);
  std::vector<Event> pending_ OAP_GUARDED_BY(write_mu_);
  std::vector<std::int64_t> pending_ids_ OAP_GUARDED_BY(write_mu_);  // pending_[i]'s user id
  // Users created by pending_ that have no row yet.
  std::vector<UserId> uncommitted_users_ OAP_GUARDED_BY(write_mu_);
  std::int64_t next_seq_ OAP_GUARDED_BY(write_mu_) = 0;
  std::int64_t next_user_id_ OAP_GUARDED_BY(write_mu_) = 1;
  // A forget() deleted rows whose bytes may still be in the files (oap_meta 'scrub_pending').
  bool scrub_pending_ OAP_GUARDED_BY(write_mu_) = false;
  std::atomic<std::size_t> pending_count_{0};

  // Lock order: write_mu_, then inbox_->mu, then users_mu_.
  mutable SharedMutex users_mu_ OAP_ACQUIRED_AFTER(write_mu_);
  std::unordered_map<UserId, UserEntry> users_ OAP_GUARDED_BY(users_mu_);

  // Committed events not yet moved into blocks, by user (its own lock, taken after write_mu_
  // and before users_mu_; readers hold it shared while they read the table and the inbox
  // together).
  std::unique_ptr<Inbox> inbox_;

  std::vector<std::unique_ptr<Connection>> readers_;
  mutable std::atomic<std::size_t> next_reader_{0};
};

}  // namespace oap
