#include "oap/store/memory_store.hpp"

#include <algorithm>
#include <functional>
#include <mutex>

#include "oap/core/error.hpp"

namespace oap {
namespace {

std::string dimension_mismatch(const UserId& user, std::size_t expected, std::size_t got) {
  return "event of user \"" + user + "\" has " + std::to_string(got) +
         " features, but the user's events have " + std::to_string(expected);
}

}  // namespace

MemoryStore::MemoryStore(const StoreOptions& options) : options_(options) {
  options_.validate();
  shards_.reserve(options_.shards);
  for (std::size_t i = 0; i < options_.shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

std::size_t MemoryStore::shard_index(const UserId& user) const {
  return std::hash<UserId>{}(user) % shards_.size();
}

void MemoryStore::insert_locked(Shard& shard, const Event& event) {
  auto [it, inserted] = shard.users.try_emplace(event.user);
  UserHistory& h = it->second;
  if (inserted) h.dim = event.features.size();
  auto& q = h.events;
  if (q.empty() || q.back().timestamp <= event.timestamp) {
    q.push_back(event);
  } else {
    auto pos = std::upper_bound(q.begin(), q.end(), event.timestamp,
                                [](Timestamp t, const Event& e) { return t < e.timestamp; });
    q.insert(pos, event);
  }
  if (q.size() > options_.max_events_per_user) q.pop_front();
}

void MemoryStore::append(const Event& event) { append_batch(std::span<const Event>(&event, 1)); }

void MemoryStore::append_batch(std::span<const Event> events) {
  if (events.empty()) return;
  for (const Event& e : events) validate_event(e);
  // Lock every shard the batch touches, in index order, so that the dimension checks and the
  // inserts are one atomic step (all-or-nothing) without risk of deadlock.
  std::vector<std::size_t> idx;
  idx.reserve(events.size());
  for (const Event& e : events) idx.push_back(shard_index(e.user));
  std::vector<std::size_t> order = idx;
  std::sort(order.begin(), order.end());
  order.erase(std::unique(order.begin(), order.end()), order.end());
  std::vector<std::unique_lock<SharedMutex>> locks;
  locks.reserve(order.size());
  for (std::size_t s : order) locks.emplace_back(shards_[s]->mu);

  std::unordered_map<UserId, std::size_t> batch_dims;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    const auto& users = shards_[idx[i]]->users;
    std::size_t expected;
    if (auto it = users.find(e.user); it != users.end()) {
      expected = it->second.dim;
    } else {
      expected = batch_dims.try_emplace(e.user, e.features.size()).first->second;
    }
    OAP_CHECK(e.features.size() == expected, InvalidArgument,
              dimension_mismatch(e.user, expected, e.features.size()) + " (batch index " +
                  std::to_string(i) + "; nothing of this batch was stored)");
  }
  for (std::size_t i = 0; i < events.size(); ++i) insert_locked(*shards_[idx[i]], events[i]);
}

std::vector<Event> MemoryStore::recent(const UserId& user, std::size_t n) const {
  const Shard& shard = *shards_[shard_index(user)];
  ReaderLock lock(shard.mu);
  auto it = shard.users.find(user);
  if (it == shard.users.end()) return {};
  const auto& q = it->second.events;
  std::size_t k = std::min(n, q.size());
  return std::vector<Event>(q.end() - static_cast<std::ptrdiff_t>(k), q.end());
}

std::vector<Event> MemoryStore::range(const UserId& user, Timestamp t0, Timestamp t1) const {
  const Shard& shard = *shards_[shard_index(user)];
  ReaderLock lock(shard.mu);
  auto it = shard.users.find(user);
  if (it == shard.users.end() || t1 <= t0) return {};
  const auto& q = it->second.events;
  auto lo = std::lower_bound(q.begin(), q.end(), t0,
                             [](const Event& e, Timestamp t) { return e.timestamp < t; });
  auto hi = std::lower_bound(lo, q.end(), t1,
                             [](const Event& e, Timestamp t) { return e.timestamp < t; });
  return std::vector<Event>(lo, hi);
}

std::size_t MemoryStore::count(const UserId& user) const {
  const Shard& shard = *shards_[shard_index(user)];
  ReaderLock lock(shard.mu);
  auto it = shard.users.find(user);
  return it == shard.users.end() ? 0 : it->second.events.size();
}

std::optional<std::size_t> MemoryStore::dimension(const UserId& user) const {
  const Shard& shard = *shards_[shard_index(user)];
  ReaderLock lock(shard.mu);
  auto it = shard.users.find(user);
  if (it == shard.users.end()) return std::nullopt;
  return it->second.dim;
}

std::vector<UserId> MemoryStore::users() const {
  std::vector<UserId> out;
  for (const auto& shard : shards_) {
    ReaderLock lock(shard->mu);
    for (const auto& [user, history] : shard->users) out.push_back(user);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t MemoryStore::forget(const UserId& user) {
  Shard& shard = *shards_[shard_index(user)];
  WriterLock lock(shard.mu);
  auto it = shard.users.find(user);
  if (it == shard.users.end()) return 0;
  std::size_t n = it->second.events.size();
  shard.users.erase(it);
  return n;
}

}  // namespace oap
