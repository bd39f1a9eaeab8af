#pragma once
// MemoryStore: an in-process HistoryStore with a bounded history per user.

#include <deque>
#include <memory>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "oap/store/history_store.hpp"

namespace oap {

// Keeps at most options.max_events_per_user events per user (the oldest by timestamp are
// dropped first), in options.shards independently locked shards so that appends for different
// users rarely contend. Nothing persists: flush() is a no-op.
//
// Safe for concurrent access without external synchronization (readers share a shard lock,
// writers take it exclusively).
class MemoryStore final : public HistoryStore {
 public:
  explicit MemoryStore(const StoreOptions& options = {});

  void append(const Event& event) override;
  void append_batch(std::span<const Event> events) override;
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
    mutable std::shared_mutex mu;
    std::unordered_map<UserId, UserHistory> users;  // GUARDED_BY(mu)
  };

  std::size_t shard_index(const UserId& user) const;
  void insert_locked(Shard& shard, const Event& event);

  StoreOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace oap
