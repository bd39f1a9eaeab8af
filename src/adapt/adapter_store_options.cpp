#include "oap/adapt/adapter_store_options.hpp"

#include <nlohmann/json.hpp>

#include "oap/core/json_config.hpp"

namespace oap {

void AdapterStoreOptions::validate() const {
  OAP_CHECK(keep_versions >= 1, ConfigError,
            "adapter_store.keep_versions must be >= 1, got 0 (the current version is always kept)");
}

void to_json(nlohmann::json& j, const AdapterStoreOptions& o) {
  j = {{"keep_versions", o.keep_versions}};
}

void from_json(const nlohmann::json& j, AdapterStoreOptions& o) {
  JsonObjectReader r(j, "adapter_store");
  o.keep_versions = r.get<std::size_t>("keep_versions", o.keep_versions);
  r.finish();
  o.validate();
}

}  // namespace oap
