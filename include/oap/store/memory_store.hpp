#pragma once
// MemoryStore: an in-process HistoryStore with a bounded history per user.

#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "oap/core/mutex.hpp"
#include "oap/core/thread_annotations.hpp"
#include "oap/store/history_store.hpp"

namespace oap {

// Keeps at most options.max_events_per_user events per user (the oldest by timestamp are
// dropped first), in options.shards independently locked shards so that appends for different
// users rarely contend. Nothing persists: flush() is a no-op. forget() drops the user's events;
// their memory goes back to the allocator (it is not overwritten).
//
// Safe for concurrent access without external synchronization (readers share a shard lock,
// writers take it exclusively).
class MemoryStore final : public HistoryStore {
 public:
  explicit MemoryStore(const StoreOptions& options = {});

  void append(const Event& event) override;
  // Locks every shard the batch touches at once: a set known only at run time, which the
  // thread-safety analysis cannot follow (it is unchecked; the locking is in one place).
  void append_batch(std::span<const Event> events) override OAP_NO_THREAD_SAFETY_ANALYSIS;
  std::vector<Event> recent(const UserId& user, std::size_t n) const override;
  std::vector<Event> range(const UserId& user, Timestamp t0, Timestamp t1) const override;
  std::size_t count(const UserId& user) const override;
  std::optional<std::size_t> dimension(const UserId& user) const override;
  std::vector<UserId> users() const override;
  std::size_t forget(const UserId& user) override;
  void flush() override {}

 private:
  struct UserHistory {
    std::size_t dim = 0;
    std::deque<Event> events;  // sorted by timestamp, ties in append order
  };
  struct Shard {
    mutable SharedMutex mu;
    std::unordered_map<UserId, UserHistory> users OAP_GUARDED_BY(mu);
  };

  std::size_t shard_index(const UserId& user) const;
  void insert_locked(Shard& shard, const Event& event) OAP_REQUIRES(shard.mu);

  StoreOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace oap
