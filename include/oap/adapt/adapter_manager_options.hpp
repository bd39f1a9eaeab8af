#pragma once
// AdapterManagerOptions: adapters' shape, training, resident memory and the update worker.

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "oap/adapt/adapter_store.hpp"
#include "oap/adapt/lora_config.hpp"
#include "oap/adapt/rapid_trainer_options.hpp"
#include "oap/adapt/update_worker.hpp"

namespace oap {

// Settings of an AdapterManager. Plain value type; JSON sections "lora", "trainer", "store",
// "worker" plus the scalar fields below.
struct AdapterManagerOptions {
  LoraConfig lora;                  // shape of new adapters
  RapidTrainerOptions trainer;      // default training settings of update()
  AdapterStoreOptions store;        // versions kept per user (used by open_adapter_manager)
  UpdateWorkerOptions worker;       // schedule_update(): threads, queue, back-pressure
  // Adapters kept in memory, in bytes of tensor data; the least recently used are evicted and
  // reloaded from the store on their next use. The adapter being returned is always kept, even
  // if alone it exceeds the budget. Default: 256 MiB. Requires >= 1.
  std::size_t memory_budget_bytes = std::size_t{256} << 20;
  // base_model_name_or_path written into every adapter_config.json (informational; Python PEFT
  // shows it). Default: empty.
  std::string base_model;

  // Throws ConfigError naming the field.
  void validate() const;
};

void to_json(nlohmann::json& j, const AdapterManagerOptions& o);
// Reads the fields and sections present (others keep their defaults); unknown keys are an error.
void from_json(const nlohmann::json& j, AdapterManagerOptions& o);

}  // namespace oap
