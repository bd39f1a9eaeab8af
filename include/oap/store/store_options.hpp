#pragma once
// Options for the history stores.

#include <cstddef>
#include <nlohmann/json_fwd.hpp>

namespace oap {

// When an append is durable (survives kill -9 of the process) in SqliteStore.
enum class Durability {
  // Every append/append_batch call commits its own transaction before it returns.
  kEveryAppend,
  // Appends are buffered and committed in batches of batch_size; an event is durable once
  // flush() has returned after its append (or its batch filled up).
  kBatched,
};

struct StoreOptions {
  // --- MemoryStore ---
  // Number of independently locked shards users are spread over. Default: 16. Requires >= 1.
  std::size_t shards = 16;
  // Events kept per user; the oldest are dropped beyond it. Default: 100000. Requires >= 1.
  std::size_t max_events_per_user = 100000;

  // --- SqliteStore ---
  // Default: kBatched.
  Durability durability = Durability::kBatched;
  // Events per transaction under kBatched. Default: 4096. Requires >= 1.
  std::size_t batch_size = 4096;
  // Committed events gathered in the append-only inbox before they are moved, packed per
  // user, into the blocks table (and memory that the inbox's in-memory mirror holds).
  // Larger: bigger blocks (fewer rows for recent() to read), more memory. Default: 131072.
  // Requires >= 1.
  std::size_t inbox_events = 131072;
  // Extra read-only connections for concurrent readers (WAL lets them run beside the
  // writer). Default: 4. Requires >= 1.
  std::size_t read_connections = 4;
  // SQLite "PRAGMA synchronous = FULL": also survive power loss/OS crash, at a large cost
  // per commit. With false (NORMAL) a committed event survives a process crash. Default: false.
  bool sync_full = false;
  // Page cache per connection, in MiB. Default: 64.
  std::size_t cache_mib = 64;
  // How long a connection waits on a lock held by another process, milliseconds.
  // Default: 5000.
  int busy_timeout_ms = 5000;

  // Throws ConfigError naming the field if a value is out of range.
  void validate() const;
};

void to_json(nlohmann::json& j, const StoreOptions& o);
// Reads the fields present in j (others keep their defaults); unknown keys are an error.
void from_json(const nlohmann::json& j, StoreOptions& o);

}  // namespace oap
