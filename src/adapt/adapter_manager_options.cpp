#include "oap/adapt/adapter_manager_options.hpp"

#include <nlohmann/json.hpp>

#include "oap/core/json_config.hpp"

namespace oap {

void AdapterManagerOptions::validate() const {
  lora.validate();
  trainer.validate();
  store.validate();
  worker.validate();
  OAP_CHECK(memory_budget_bytes >= 1, ConfigError, "adapters.memory_budget_bytes must be >= 1");
}

void to_json(nlohmann::json& j, const AdapterManagerOptions& o) {
  j = {{"lora", o.lora},
       {"trainer", o.trainer},
       {"store", o.store},
       {"worker", o.worker},
       {"memory_budget_bytes", o.memory_budget_bytes},
       {"base_model", o.base_model}};
}

void from_json(const nlohmann::json& j, AdapterManagerOptions& o) {
  JsonObjectReader r(j, "adapters");
  if (const auto& v = r.raw("lora"); !v.is_null()) from_json(v, o.lora);
  if (const auto& v = r.raw("trainer"); !v.is_null()) from_json(v, o.trainer);
  if (const auto& v = r.raw("store"); !v.is_null()) from_json(v, o.store);
  if (const auto& v = r.raw("worker"); !v.is_null()) from_json(v, o.worker);
  o.memory_budget_bytes = r.get<std::size_t>("memory_budget_bytes", o.memory_budget_bytes);
  o.base_model = r.get<std::string>("base_model", o.base_model);
  r.finish();
  o.validate();
}

}  // namespace oap
