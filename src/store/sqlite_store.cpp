#include "oap/store/sqlite_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <queue>

#include "core/log.hpp"
#include "oap/core/error.hpp"
#include "store/event_block.hpp"
#include "store/sqlite_connection.hpp"

namespace oap {

static_assert(std::endian::native == std::endian::little,
              "SqliteStore stores features as little-endian float32 and assumes a "
              "little-endian host");

namespace {

using detail::BlockEntry;
using detail::ResetOnExit;
using detail::StoredEvent;

constexpr const char* kSchemaVersion = "3";
// oap_meta 'scrub_pending' while a forget() has deleted a user's rows but not yet scrubbed the
// files (SqliteStore::scrub_locked).
constexpr const char* kScrubPending = "1";

// A store move packs each user's inbox events into blocks of at most this many events.
constexpr std::size_t kMaxBlockEvents = 256;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS oap_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  dim INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blocks(
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL,
  last_ts INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  first_ts INTEGER NOT NULL,
  n INTEGER NOT NULL,
  data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS blocks_by_user ON blocks(user_id, last_ts, last_seq, first_ts, n);
CREATE TABLE IF NOT EXISTS inbox(
  seq INTEGER PRIMARY KEY,
  n INTEGER NOT NULL,
  data BLOB NOT NULL);
INSERT OR IGNORE INTO oap_meta(key, value) VALUES('schema', '3');
INSERT OR IGNORE INTO oap_meta(key, value) VALUES('next_seq', '0');
)sql";

bool before(const StoredEvent& a, const StoredEvent& b) {
  return a.event.timestamp != b.event.timestamp ? a.event.timestamp < b.event.timestamp
                                                : a.seq < b.seq;
}

// Inserts e into v, which is sorted by (timestamp, seq); appends are the common case.
void insert_sorted(std::vector<StoredEvent>& v, StoredEvent e) {
  if (v.empty() || !before(e, v.back())) {
    v.push_back(std::move(e));
  } else {
    v.insert(std::upper_bound(v.begin(), v.end(), e, before), std::move(e));
  }
}

// (ts, seq): the order of a user's events.
using Key = std::pair<std::int64_t, std::int64_t>;

// An event that a read may return: in the inbox's mirror (inbox != nullptr) or in a block.
struct Candidate {
  Key key;
  const StoredEvent* inbox = nullptr;
  BlockEntry block;
};

// Sorts candidates by key and builds their events (copies from the inbox, decodes blocks).
std::vector<Event> materialize_sorted(std::vector<Candidate>& cands, const UserId& user,
                                      std::size_t dim, const std::string& where) {
  std::sort(cands.begin(), cands.end(),
            [](const Candidate& a, const Candidate& b) { return a.key < b.key; });
  std::vector<Event> out;
  out.reserve(cands.size());
  for (const Candidate& c : cands) {
    out.push_back(c.inbox ? c.inbox->event : materialize(c.block, user, dim, where));
  }
  return out;
}

}  // namespace

struct SqliteStore::Inbox {
  mutable SharedMutex mu;
  std::unordered_map<std::int64_t, std::vector<StoredEvent>> by_user OAP_GUARDED_BY(mu);
  std::size_t events OAP_GUARDED_BY(mu) = 0;
};

SqliteStore::SqliteStore(std::filesystem::path path, const StoreOptions& options)
    : path_(std::move(path)),
      where_("SQLite database " + path_.string()),
      options_(options),
      inbox_(std::make_unique<Inbox>()) {
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
    open_database();
  } catch (...) {
    readers_.clear();
    writer_.reset();
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw;
  }
  {
    // A forget() that deleted a user but did not finish scrubbing (the process died, or the
    // log could not be truncated) is finished now. Failing here leaves the store usable and the
    // scrub pending for the next forget().
    MutexLock lock(write_mu_);
    if (scrub_pending_) {
      try {
        scrub_locked();
      } catch (const std::exception& e) {
        detail::logger()->error("SqliteStore {}: finishing an earlier forget failed: {}",
                                path_.string(), e.what());
      }
    }
  }
  detail::logger()->debug("opened SQLite store {} ({} users, {} events in the inbox, next seq {})",
                          path_.string(), users_.size(), inbox_->events, next_seq_);
}

// Runs in the constructor, before the store is shared; it takes the locks anyway (uncontended),
// so that every access to the guarded members is checked the same way. In the store's lock
// order: write_mu_, inbox_->mu, users_mu_ (as forget() takes them).
void SqliteStore::open_database() {
  MutexLock write_lock(write_mu_);
  WriterLock inbox_lock(inbox_->mu);
  WriterLock users_lock(users_mu_);
  writer_ = std::make_unique<Connection>(path_.string(), /*create=*/true, options_);
  auto& w = *writer_;
  // Detects a file that is not SQLite at all (SQLITE_NOTADB) before changing anything.
  w.exec("PRAGMA schema_version");
  std::string mode = w.query_text("PRAGMA journal_mode = WAL");
  OAP_CHECK(mode == "wal", StoreError,
            "SqliteStore: cannot switch " + path_.string() + " to WAL mode (got \"" + mode + "\")");
  w.exec(options_.sync_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  // Checkpoint less often than SQLite's default (1000 pages), so that pages dirtied by several
  // commits are written back once (bench/store_bench.cpp, docs/benchmarks.md); truncate the WAL
  // after a checkpoint. Durability is unchanged: a commit is durable once it is in the WAL.
  w.exec("PRAGMA wal_autocheckpoint = 16384");
  w.exec("PRAGMA journal_size_limit = 67108864");
  // Zeroing what a delete frees costs the inbox moves ~10% of the append rate
  // (docs/benchmarks.md) and is not what makes forget() complete (its scrub is); forget() turns
  // it on for its own deletes. Set explicitly: SQLite builds differ in the default (Debian: on).
  w.exec("PRAGMA secure_delete = OFF");

  // Refuse a database that has tables but is not ours, before creating anything in it.
  std::string tables =
      w.query_text("SELECT group_concat(name, ',') FROM sqlite_master WHERE type = 'table'");
  bool has_meta = ("," + tables + ",").find(",oap_meta,") != std::string::npos;
  OAP_CHECK(tables.empty() || has_meta, StoreError,
            "SqliteStore: " + path_.string() +
                " is an SQLite database but not an oap history store (no oap_meta table)");
  w.exec("BEGIN IMMEDIATE");
  w.exec(kSchema);
  w.exec("COMMIT");

  std::string version = w.query_text("SELECT value FROM oap_meta WHERE key = 'schema'");
  OAP_CHECK(version == kSchemaVersion, StoreError,
            "SqliteStore: " + path_.string() + " has schema version " + version +
                ", this build reads version " + kSchemaVersion);
  next_seq_ = std::stoll(w.query_text("SELECT value FROM oap_meta WHERE key = 'next_seq'"));
  scrub_pending_ =
      w.query_text("SELECT value FROM oap_meta WHERE key = 'scrub_pending'") == kScrubPending;

  std::unordered_map<std::int64_t, UserId> names;
  {
    sqlite3_stmt* stmt = w.prepare("SELECT id, name, dim FROM users");
    ResetOnExit reset{stmt};
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::int64_t id = sqlite3_column_int64(stmt, 0);
      std::string name = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
      auto dim = static_cast<std::size_t>(sqlite3_column_int64(stmt, 2));
      names.emplace(id, name);
      users_.emplace(std::move(name), UserEntry{id, dim, true});
      next_user_id_ = std::max(next_user_id_, id + 1);
    }
    w.check(rc, "read users");
  }
  {
    // The inbox's in-memory mirror: everything committed but not yet moved.
    std::unordered_map<std::int64_t, std::size_t> dims;
    for (const auto& [name, entry] : users_) dims.emplace(entry.id, entry.dim);
    const std::string where = "SqliteStore: " + path_.string();
    sqlite3_stmt* stmt = w.prepare("SELECT data FROM inbox ORDER BY seq");
    ResetOnExit reset{stmt};
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt, 0));
      std::span<const std::uint8_t> bytes(data,
                                          static_cast<std::size_t>(sqlite3_column_bytes(stmt, 0)));
      for (const detail::BatchEntry& b : detail::parse_batch(bytes, where)) {
        auto name = names.find(b.user_id);
        OAP_CHECK(name != names.end(), StoreError,
                  where + ": inbox event of unknown user id " + std::to_string(b.user_id));
        OAP_CHECK(b.dim == dims.at(b.user_id), StoreError,
                  where + ": inbox event of user \"" + name->second + "\" has " +
                      std::to_string(b.dim) + " features, the user has " +
                      std::to_string(dims.at(b.user_id)));
        insert_sorted(
            inbox_->by_user[b.user_id],
            StoredEvent{b.entry.seq, detail::materialize(b.entry, name->second, b.dim, where)});
        ++inbox_->events;
      }
    }
    w.check(rc, "read inbox");
  }
  w.prepare_writer();
  for (std::size_t i = 0; i < options_.read_connections; ++i) {
    auto reader = std::make_unique<Connection>(path_.string(), /*create=*/false, options_);
    reader->prepare_reader();
    readers_.push_back(std::move(reader));
  }
}

SqliteStore::~SqliteStore() {
  {
    MutexLock lock(write_mu_);
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
  MutexLock lock(write_mu_);
  std::vector<std::int64_t> ids(events.size(), -1);  // each event's user id
  {
    // Check dimensions against known users and within the batch before accepting anything.
    std::unordered_map<UserId, std::size_t> new_dims;
    ReaderLock users_lock(users_mu_);
    for (std::size_t i = 0; i < events.size(); ++i) {
      const Event& e = events[i];
      std::size_t expected;
      if (auto it = users_.find(e.user); it != users_.end()) {
        expected = it->second.dim;
        ids[i] = it->second.id;
      } else {
        expected = new_dims.try_emplace(e.user, e.features.size()).first->second;
      }
      OAP_CHECK(e.features.size() == expected, InvalidArgument,
                "event of user \"" + e.user + "\" has " + std::to_string(e.features.size()) +
                    " features, but the user's events have " + std::to_string(expected) +
                    " (batch index " + std::to_string(i) + "; nothing of this batch was stored)");
    }
    users_lock.unlock();
    WriterLock users_write(users_mu_);
    for (const auto& [user, dim] : new_dims) {
      users_.emplace(user, UserEntry{next_user_id_++, dim, false});
      uncommitted_users_.push_back(user);
    }
    if (!new_dims.empty()) {
      for (std::size_t i = 0; i < events.size(); ++i) {
        if (ids[i] < 0) ids[i] = users_.at(events[i].user).id;
      }
    }
  }
  pending_.insert(pending_.end(), events.begin(), events.end());
  pending_ids_.insert(pending_ids_.end(), ids.begin(), ids.end());
  pending_count_.store(pending_.size(), std::memory_order_release);
  if (options_.durability == Durability::kEveryAppend || pending_.size() >= options_.batch_size) {
    try {
      commit_pending_locked();
    } catch (...) {
      if (options_.durability == Durability::kEveryAppend) {
        // The caller is told this append failed, so nothing of it may appear later.
        pending_.clear();
        pending_ids_.clear();
        pending_count_.store(0, std::memory_order_release);
        WriterLock users_write(users_mu_);
        std::erase_if(users_, [](const auto& kv) { return !kv.second.committed; });
        uncommitted_users_.clear();
      }
      throw;
    }
  }
}

void SqliteStore::commit_pending_locked() {
  if (pending_.empty()) return;
  auto& w = *writer_;
  const std::vector<std::int64_t>& user_ids = pending_ids_;
  // The thread-safety analysis checks a lambda on its own, not knowing that in_transaction
  // runs it here, under write_mu_: unchecked.
  detail::in_transaction(w, [&]() OAP_NO_THREAD_SAFETY_ANALYSIS {
    {
      ReaderLock users_lock(users_mu_);
      for (const UserId& user : uncommitted_users_) {
        const UserEntry& entry = users_.at(user);
        ResetOnExit reset{w.insert_user};
        sqlite3_bind_int64(w.insert_user, 1, entry.id);
        sqlite3_bind_text(w.insert_user, 2, user.data(), static_cast<int>(user.size()),
                          SQLITE_STATIC);
        sqlite3_bind_int64(w.insert_user, 3, static_cast<std::int64_t>(entry.dim));
        w.step_done(w.insert_user, "insert user");
      }
    }
    // One row for the whole batch: the per-row cost of SQLite is paid once per commit.
    std::vector<std::uint8_t> blob;
    detail::encode_batch(pending_, user_ids, next_seq_, blob);
    {
      ResetOnExit reset{w.insert_inbox};
      sqlite3_bind_int64(w.insert_inbox, 1, next_seq_);
      sqlite3_bind_int64(w.insert_inbox, 2, static_cast<std::int64_t>(pending_.size()));
      sqlite3_bind_blob(w.insert_inbox, 3, blob.data(), static_cast<int>(blob.size()),
                        SQLITE_STATIC);
      w.step_done(w.insert_inbox, "insert inbox batch");
    }
    ResetOnExit reset{w.set_next_seq};
    sqlite3_bind_int64(w.set_next_seq, 1, next_seq_ + static_cast<std::int64_t>(pending_.size()));
    w.step_done(w.set_next_seq, "update next_seq");
  });
  // Durable from here on.
  bool inbox_full;
  {
    WriterLock inbox_lock(inbox_->mu);
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      insert_sorted(inbox_->by_user[user_ids[i]],
                    StoredEvent{next_seq_ + static_cast<std::int64_t>(i), std::move(pending_[i])});
    }
    inbox_->events += pending_.size();
    inbox_full = inbox_->events >= options_.inbox_events;
  }
  next_seq_ += static_cast<std::int64_t>(pending_.size());
  pending_.clear();
  pending_ids_.clear();
  pending_count_.store(0, std::memory_order_release);
  {
    WriterLock users_write(users_mu_);
    for (const auto& user : uncommitted_users_) users_.at(user).committed = true;
    uncommitted_users_.clear();
  }
  if (inbox_full) {
    try {
      migrate_inbox_locked();
    } catch (const std::exception& e) {
      // The events are safe in the inbox; the move is tried again after the next commit.
      detail::logger()->error("SqliteStore {}: moving the inbox failed (will retry): {}",
                              path_.string(), e.what());
    }
  }
}

void SqliteStore::migrate_inbox_locked() {
  auto& w = *writer_;
  const auto t0 = std::chrono::steady_clock::now();
  WriterLock inbox_lock(inbox_->mu);
  // Users in id order, so the index entries go in in order too.
  std::vector<std::int64_t> ids;
  ids.reserve(inbox_->by_user.size());
  for (const auto& [id, events] : inbox_->by_user) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  std::vector<std::uint8_t> blob;
  std::vector<const Event*> events;
  std::vector<std::int64_t> seqs;
  std::size_t blocks = 0;
  // Unchecked: the analysis does not know that this lambda runs here, under inbox_->mu.
  detail::in_transaction(w, [&]() OAP_NO_THREAD_SAFETY_ANALYSIS {
    blocks = 0;
    for (std::int64_t id : ids) {
      const std::vector<StoredEvent>& v = inbox_->by_user.at(id);
      if (v.empty()) continue;
      const std::size_t dim = v.front().event.features.size();
      for (std::size_t start = 0; start < v.size(); start += kMaxBlockEvents) {
        const std::size_t end = std::min(v.size(), start + kMaxBlockEvents);
        events.clear();
        seqs.clear();
        for (std::size_t i = start; i < end; ++i) {
          events.push_back(&v[i].event);
          seqs.push_back(v[i].seq);
        }
        blob.clear();
        detail::encode_block(events, seqs, dim, blob);
        ResetOnExit reset{w.insert_block};
        sqlite3_bind_int64(w.insert_block, 1, id);
        sqlite3_bind_int64(w.insert_block, 2, to_micros(v[end - 1].event.timestamp));
        sqlite3_bind_int64(w.insert_block, 3, v[end - 1].seq);
        sqlite3_bind_int64(w.insert_block, 4, to_micros(v[start].event.timestamp));
        sqlite3_bind_int64(w.insert_block, 5, static_cast<std::int64_t>(end - start));
        sqlite3_bind_blob(w.insert_block, 6, blob.data(), static_cast<int>(blob.size()),
                          SQLITE_STATIC);
        w.step_done(w.insert_block, "insert event block");
        ++blocks;
      }
    }
    w.step_done(w.clear_inbox, "clear inbox");
    sqlite3_reset(w.clear_inbox);
  });
  detail::logger()->debug(
      "SqliteStore {}: moved {} inbox events into {} blocks in {:.1f} ms", path_.string(),
      inbox_->events, blocks,
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  inbox_->by_user.clear();
  inbox_->events = 0;
}

void SqliteStore::commit_if_pending() const {
  if (pending_count_.load(std::memory_order_acquire) == 0) return;
  MutexLock lock(write_mu_);
  // Committing buffered appends does not change what the store holds, only where: this is
  // why a const read may do it.
  const_cast<SqliteStore*>(this)->commit_pending_locked();
}

void SqliteStore::flush() {
  MutexLock lock(write_mu_);
  commit_pending_locked();
}

std::optional<SqliteStore::UserEntry> SqliteStore::user_entry(const UserId& user) const {
  ReaderLock lock(users_mu_);
  auto it = users_.find(user);
  if (it == users_.end()) return std::nullopt;
  return it->second;
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
  auto entry = user_entry(user);
  if (!entry || n == 0) return {};
  const std::string& where = where_;
  ReaderLock inbox_lock(inbox_->mu);
  std::vector<Candidate> cands;
  // The n largest keys seen so far (a min-heap): its top is the n-th newest candidate.
  std::priority_queue<Key, std::vector<Key>, std::greater<Key>> newest;
  const auto offer = [&](Key key) {
    newest.push(key);
    if (newest.size() > n) newest.pop();
  };
  if (auto it = inbox_->by_user.find(entry->id); it != inbox_->by_user.end()) {
    const auto& in = it->second;
    for (std::size_t i = in.size() - std::min(n, in.size()); i < in.size(); ++i) {
      Key key{to_micros(in[i].event.timestamp), in[i].seq};
      cands.push_back(Candidate{key, &in[i], {}});
      offer(key);
    }
  }
  std::vector<std::vector<std::uint8_t>> blobs;  // the blocks read; candidates point into them
  {
    std::unique_lock<std::mutex> lock;
    Connection& c = acquire_reader(lock);
    ResetOnExit reset{c.recent};
    sqlite3_bind_int64(c.recent, 1, entry->id);
    int rc;
    while ((rc = sqlite3_step(c.recent)) == SQLITE_ROW) {
      // Blocks come newest last event first: once one ends before the n-th newest candidate,
      // it and every later one hold nothing newer.
      Key last{sqlite3_column_int64(c.recent, 0), sqlite3_column_int64(c.recent, 1)};
      if (newest.size() >= n && last < newest.top()) break;
      const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(c.recent, 2));
      blobs.emplace_back(data, data + sqlite3_column_bytes(c.recent, 2));
      for (const BlockEntry& e : detail::parse_block(blobs.back(), entry->dim, where)) {
        cands.push_back(Candidate{Key{e.ts, e.seq}, nullptr, e});
        offer(cands.back().key);
      }
    }
    c.check(rc, "read recent events");
  }
  if (cands.size() > n) {
    // Keep the n newest.
    auto cut = cands.begin() + static_cast<std::ptrdiff_t>(cands.size() - n);
    std::nth_element(cands.begin(), cut, cands.end(),
                     [](const Candidate& a, const Candidate& b) { return a.key < b.key; });
    cands.erase(cands.begin(), cut);
  }
  return materialize_sorted(cands, user, entry->dim, where);
}

std::vector<Event> SqliteStore::range(const UserId& user, Timestamp t0, Timestamp t1) const {
  commit_if_pending();
  auto entry = user_entry(user);
  if (!entry || t1 <= t0) return {};
  const std::string& where = where_;
  const std::int64_t lo = to_micros(t0), hi = to_micros(t1);
  ReaderLock inbox_lock(inbox_->mu);
  std::vector<Candidate> cands;
  if (auto it = inbox_->by_user.find(entry->id); it != inbox_->by_user.end()) {
    const auto& in = it->second;
    const auto by_time = [](const StoredEvent& e, Timestamp t) { return e.event.timestamp < t; };
    auto first = std::lower_bound(in.begin(), in.end(), t0, by_time);
    auto last = std::lower_bound(first, in.end(), t1, by_time);
    for (auto i = first; i != last; ++i) {
      cands.push_back(Candidate{Key{to_micros(i->event.timestamp), i->seq}, &*i, {}});
    }
  }
  std::vector<std::vector<std::uint8_t>> blobs;
  {
    std::unique_lock<std::mutex> lock;
    Connection& c = acquire_reader(lock);
    ResetOnExit reset{c.range};
    sqlite3_bind_int64(c.range, 1, entry->id);
    sqlite3_bind_int64(c.range, 2, lo);
    sqlite3_bind_int64(c.range, 3, hi);
    int rc;
    while ((rc = sqlite3_step(c.range)) == SQLITE_ROW) {
      const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(c.range, 0));
      blobs.emplace_back(data, data + sqlite3_column_bytes(c.range, 0));
      for (const BlockEntry& e : detail::parse_block(blobs.back(), entry->dim, where)) {
        if (e.ts >= lo && e.ts < hi) cands.push_back(Candidate{Key{e.ts, e.seq}, nullptr, e});
      }
    }
    c.check(rc, "read event range");
  }
  return materialize_sorted(cands, user, entry->dim, where);
}

std::size_t SqliteStore::count(const UserId& user) const {
  commit_if_pending();
  auto entry = user_entry(user);
  if (!entry) return 0;
  const std::int64_t id = entry->id;
  ReaderLock inbox_lock(inbox_->mu);
  std::unique_lock<std::mutex> lock;
  Connection& c = acquire_reader(lock);
  ResetOnExit reset{c.count};
  sqlite3_bind_int64(c.count, 1, id);
  int rc = sqlite3_step(c.count);
  c.check(rc, "count events");
  std::size_t n = rc == SQLITE_ROW ? static_cast<std::size_t>(sqlite3_column_int64(c.count, 0)) : 0;
  auto it = inbox_->by_user.find(id);
  return n + (it == inbox_->by_user.end() ? 0 : it->second.size());
}

std::optional<std::size_t> SqliteStore::dimension(const UserId& user) const {
  ReaderLock lock(users_mu_);
  auto it = users_.find(user);
  if (it == users_.end()) return std::nullopt;
  return it->second.dim;
}

std::vector<UserId> SqliteStore::users() const {
  std::vector<UserId> out;
  {
    ReaderLock lock(users_mu_);
    out.reserve(users_.size());
    for (const auto& [user, entry] : users_) out.push_back(user);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t SqliteStore::forget(const UserId& user) {
  MutexLock lock(write_mu_);
  commit_pending_locked();
  auto entry = user_entry(user);
  if (!entry) {
    if (scrub_pending_) scrub_locked();  // an earlier forget's, unfinished
    return 0;
  }
  const std::int64_t id = entry->id;
  auto& w = *writer_;
  // Zero what the deletes below free, so that if the scrub cannot run (no space for VACUUM's
  // copy) little of the user is left for it; the scrub is what removes the rest.
  w.exec("PRAGMA secure_delete = ON");
  struct SecureDeleteOff {
    Connection& w;
    ~SecureDeleteOff() {
      try {
        w.exec("PRAGMA secure_delete = OFF");
      } catch (const std::exception& e) {
        detail::logger()->warn("SqliteStore {}: {}", w.path, e.what());
      }
    }
  } secure_delete_off{w};
  // Inbox rows hold whole batches of many users; the user's inbox events are moved into blocks
  // first (with everyone else's), so that deleting the user's blocks removes all of it.
  bool in_inbox;
  {
    ReaderLock inbox_lock(inbox_->mu);
    in_inbox = inbox_->by_user.contains(id);
  }
  if (in_inbox) migrate_inbox_locked();
  std::size_t removed = 0;
  {
    WriterLock inbox_lock(inbox_->mu);
    detail::in_transaction(w, [&] {
      {
        ResetOnExit reset{w.count_blocks};
        sqlite3_bind_int64(w.count_blocks, 1, id);
        w.step_done(w.count_blocks, "count events");
        removed = static_cast<std::size_t>(sqlite3_column_int64(w.count_blocks, 0));
      }
      {
        ResetOnExit reset{w.delete_blocks};
        sqlite3_bind_int64(w.delete_blocks, 1, id);
        w.step_done(w.delete_blocks, "delete events");
      }
      {
        ResetOnExit reset{w.delete_user};
        sqlite3_bind_int64(w.delete_user, 1, id);
        w.step_done(w.delete_user, "delete user");
      }
      // In the same transaction: if the process dies before the scrub below is done, the next
      // open does it.
      w.exec(std::string("INSERT OR REPLACE INTO oap_meta(key, value) VALUES('scrub_pending', '") +
             kScrubPending + "')");
    });
    WriterLock users_write(users_mu_);
    users_.erase(user);
  }
  scrub_pending_ = true;
  scrub_locked();
  return removed;
}

// Deleted rows leave their bytes behind in SQLite's files: in the free space of the pages that
// held them, in free pages, in older copies of pages in the WAL, and (even with PRAGMA
// secure_delete, which zeroes only the deleted cells) in stale copies that rebalancing a b-tree
// leaves in the unused middle of a page when it moves a row to another page. VACUUM rebuilds
// the database from its live rows alone (through a temporary file that SQLite deletes, outside
// the store's folder) and writes every page of it anew; truncating the WAL afterwards removes
// the older page copies.
void SqliteStore::scrub_locked() {
  auto& w = *writer_;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    w.exec("VACUUM");
  } catch (const StoreError& e) {
    OAP_THROW(StoreError, "SqliteStore: cannot rewrite " + path_.string() +
                              " to scrub what forget() deleted (VACUUM needs free space for a "
                              "copy of the database in the temporary folder and in the WAL): " +
                              e.what() + "; the next forget() or opening the store retries");
  }
  truncate_wal_locked();
  w.exec("DELETE FROM oap_meta WHERE key = 'scrub_pending'");
  scrub_pending_ = false;
  try {
    // What is in the log now is the one page of oap_meta; leave it empty all the same.
    truncate_wal_locked();
  } catch (const std::exception& e) {
    detail::logger()->warn("SqliteStore {}: {}", path_.string(), e.what());
  }
  detail::logger()->debug(
      "SqliteStore {}: scrubbed after forget in {:.1f} ms", path_.string(),
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
}

void SqliteStore::truncate_wal_locked() {
  // A reader connection holds a read transaction only inside a read, which holds inbox_->mu
  // shared all the while: with it held exclusively, none of this store's readers can keep the
  // checkpoint from copying every frame and truncating the log. Another process is kept out by
  // the lock file; a connection that ignores it (or a read-only one) is waited for up to
  // busy_timeout_ms by the writer's busy handler, then the checkpoint gives up.
  WriterLock inbox_lock(inbox_->mu);
  int frames = -1;
  int copied = -1;
  const int rc =
      sqlite3_wal_checkpoint_v2(writer_->db, "main", SQLITE_CHECKPOINT_TRUNCATE, &frames, &copied);
  const std::string wal = path_.string() + "-wal";
  std::error_code ec;
  const auto size = std::filesystem::file_size(wal, ec);
  if (rc != SQLITE_OK || (!ec && size != 0)) {
    OAP_THROW(StoreError, "SqliteStore: cannot truncate the write-ahead log " + wal + " (" +
                              sqlite3_errmsg(writer_->db) + "; " + std::to_string(ec ? 0 : size) +
                              " bytes left): is another connection reading " + path_.string() +
                              "? Copies of forgotten events stay in the log until a checkpoint "
                              "completes; the next forget() or opening the store retries");
  }
}

}  // namespace oap
