#pragma once
// Private helpers for reading detector state JSON with errors that name the field.

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "oap/core/error.hpp"

namespace oap::detail {

// state[key], which must exist; ConfigError "<ctx>.<key>: missing" otherwise.
inline const nlohmann::json& state_field(const nlohmann::json& state, const std::string& key,
                                         const std::string& ctx) {
  OAP_CHECK(state.is_object(), ConfigError, ctx + ": state must be a JSON object");
  auto it = state.find(key);
  OAP_CHECK(it != state.end(), ConfigError, ctx + "." + key + ": missing from the state");
  return *it;
}

template <typename T>
T state_get(const nlohmann::json& state, const std::string& key, const std::string& ctx) {
  const nlohmann::json& v = state_field(state, key, ctx);
  try {
    if constexpr (std::is_floating_point_v<T>) {
      OAP_CHECK(v.is_number(), ConfigError, ctx + "." + key + ": expected a number");
    } else if constexpr (std::is_same_v<T, bool>) {
      OAP_CHECK(v.is_boolean(), ConfigError, ctx + "." + key + ": expected a boolean");
    } else if constexpr (std::is_integral_v<T>) {
      OAP_CHECK(v.is_number_integer(), ConfigError, ctx + "." + key + ": expected an integer");
    } else if constexpr (std::is_same_v<T, std::string>) {
      OAP_CHECK(v.is_string(), ConfigError, ctx + "." + key + ": expected a string");
    }
    return v.get<T>();
  } catch (const nlohmann::json::exception& e) {
    OAP_THROW(ConfigError, ctx + "." + key + ": " + e.what());
  }
}

// A finite-valued numeric array of exactly `size` elements (any size if size == SIZE_MAX).
inline std::vector<double> state_vector(const nlohmann::json& state, const std::string& key,
                                        const std::string& ctx, std::size_t size) {
  const nlohmann::json& v = state_field(state, key, ctx);
  OAP_CHECK(v.is_array(), ConfigError, ctx + "." + key + ": expected an array");
  OAP_CHECK(size == SIZE_MAX || v.size() == size, ConfigError,
            ctx + "." + key + ": expected " + std::to_string(size) + " values, got " +
                std::to_string(v.size()));
  std::vector<double> out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    OAP_CHECK(v[i].is_number() && std::isfinite(v[i].get<double>()), ConfigError,
              ctx + "." + key + "[" + std::to_string(i) + "]: expected a finite number");
    out.push_back(v[i].get<double>());
  }
  return out;
}

// Checks state["kind"] == kind and state["dim"] == dim.
inline void check_state_header(const nlohmann::json& state, const std::string& kind,
                               std::size_t dim) {
  std::string got = state_get<std::string>(state, "kind", kind);
  OAP_CHECK(got == kind, ConfigError,
            kind + ": cannot load the state of a \"" + got + "\" detector");
  auto d = state_get<std::uint64_t>(state, "dim", kind);
  OAP_CHECK(d == dim, ConfigError,
            kind + ": state has dim " + std::to_string(d) + ", this detector has dim " +
                std::to_string(dim));
}

}  // namespace oap::detail
