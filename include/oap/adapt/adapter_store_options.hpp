#pragma once
// Options for the adapter store (versioned per-user LoRA adapters on disk).

#include <cstddef>
#include <nlohmann/json_fwd.hpp>

namespace oap {

struct AdapterStoreOptions {
  // Versions AdapterStore::add keeps per user: the newest keep_versions, plus the current
  // version and the version it was trained from (its parent) wherever they are in the history.
  // Older versions are deleted. Default: 5. Requires >= 1.
  std::size_t keep_versions = 5;

  // Throws ConfigError naming the field if a value is out of range.
  void validate() const;
};

void to_json(nlohmann::json& j, const AdapterStoreOptions& o);
// Reads the fields present in j (others keep their defaults); unknown keys are an error.
void from_json(const nlohmann::json& j, AdapterStoreOptions& o);

}  // namespace oap
