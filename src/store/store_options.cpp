#include "oap/store/store_options.hpp"

#include <nlohmann/json.hpp>

#include "oap/core/json_config.hpp"

namespace oap {

void StoreOptions::validate() const {
  OAP_CHECK(shards >= 1, ConfigError, "store.shards must be >= 1, got 0");
  OAP_CHECK(max_events_per_user >= 1, ConfigError, "store.max_events_per_user must be >= 1, got 0");
  OAP_CHECK(batch_size >= 1, ConfigError, "store.batch_size must be >= 1, got 0");
  OAP_CHECK(inbox_events >= 1, ConfigError, "store.inbox_events must be >= 1, got 0");
  OAP_CHECK(read_connections >= 1, ConfigError, "store.read_connections must be >= 1, got 0");
  OAP_CHECK(busy_timeout_ms >= 0, ConfigError,
            "store.busy_timeout_ms must be >= 0, got " + std::to_string(busy_timeout_ms));
}

void to_json(nlohmann::json& j, const StoreOptions& o) {
  j = {{"shards", o.shards},
       {"max_events_per_user", o.max_events_per_user},
       {"durability", o.durability == Durability::kEveryAppend ? "every_append" : "batched"},
       {"batch_size", o.batch_size},
       {"inbox_events", o.inbox_events},
       {"read_connections", o.read_connections},
       {"sync_full", o.sync_full},
       {"cache_mib", o.cache_mib},
       {"busy_timeout_ms", o.busy_timeout_ms}};
}

void from_json(const nlohmann::json& j, StoreOptions& o) {
  JsonObjectReader r(j, "store");
  o.shards = r.get<std::size_t>("shards", o.shards);
  o.max_events_per_user = r.get<std::size_t>("max_events_per_user", o.max_events_per_user);
  std::string durability = r.get<std::string>(
      "durability", o.durability == Durability::kEveryAppend ? "every_append" : "batched");
  OAP_CHECK(durability == "every_append" || durability == "batched", ConfigError,
            "store.durability must be \"every_append\" or \"batched\", got \"" + durability + "\"");
  o.durability = durability == "every_append" ? Durability::kEveryAppend : Durability::kBatched;
  o.batch_size = r.get<std::size_t>("batch_size", o.batch_size);
  o.inbox_events = r.get<std::size_t>("inbox_events", o.inbox_events);
  o.read_connections = r.get<std::size_t>("read_connections", o.read_connections);
  o.sync_full = r.get<bool>("sync_full", o.sync_full);
  o.cache_mib = r.get<std::size_t>("cache_mib", o.cache_mib);
  o.busy_timeout_ms = r.get<int>("busy_timeout_ms", o.busy_timeout_ms);
  r.finish();
  o.validate();
}

}  // namespace oap
