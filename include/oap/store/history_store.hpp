#pragma once
// HistoryStore: the interface to a per-user store of behaviour events.

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "oap/core/event.hpp"
#include "oap/store/store_options.hpp"

namespace oap {

// Per-user event history. A user's events are ordered by timestamp, ties broken by append
// order; every method that returns events returns them oldest first.
//
// All implementations are safe for concurrent use from any number of threads without
// external synchronization. Events are copied in and copied out: the store owns its data and
// the caller owns what it gets back.
//
// Every event is validated on append (validate_event), and within a user all events must
// have the same number of features (the first event fixes it); a violation throws
// InvalidArgument and the store is unchanged (append_batch is all-or-nothing).
class HistoryStore {
 public:
  virtual ~HistoryStore() = default;

  virtual void append(const Event& event) = 0;
  virtual void append_batch(std::span<const Event> events) = 0;

  // The user's latest n events (or all of them if fewer), oldest first.
  virtual std::vector<Event> recent(const UserId& user, std::size_t n) const = 0;
  // The user's events with t0 <= timestamp < t1, oldest first.
  virtual std::vector<Event> range(const UserId& user, Timestamp t0, Timestamp t1) const = 0;
  // Number of events held for the user (0 for an unknown user).
  virtual std::size_t count(const UserId& user) const = 0;
  // The user's feature dimension, or nullopt if the store holds nothing of the user.
  virtual std::optional<std::size_t> dimension(const UserId& user) const = 0;
  // Every user with at least one event, sorted.
  virtual std::vector<UserId> users() const = 0;
  // Removes everything held of the user (events and dimension); returns how many events
  // were removed. Durable and complete when it returns: the store keeps no copy of the
  // user's events anywhere it keeps data (each implementation says what that covers and what
  // it costs). Events a caller has read before are the caller's.
  virtual std::size_t forget(const UserId& user) = 0;
  // Makes every event appended before the call durable (where the store is durable at all).
  virtual void flush() = 0;
};

// Opens a store by URI:
//   "memory://"                 MemoryStore (nothing persists)
//   "sqlite:///abs/path.db"     SqliteStore on /abs/path.db (created if missing)
//   "sqlite://relative/path.db" SqliteStore on a path relative to the working directory
// Throws InvalidArgument for an unknown scheme or an empty path, StoreError if it cannot open.
std::unique_ptr<HistoryStore> open_store(std::string_view uri, const StoreOptions& options = {});

}  // namespace oap
