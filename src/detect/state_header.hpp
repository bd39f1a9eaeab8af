#pragma once
// Private: the kind and dim every detector's saved state starts with.

#include <cstdint>
#include <string>

#include "oap/core/error.hpp"
#include "oap/core/json_config.hpp"

namespace oap::detail {

// Checks state["kind"] == kind and state["dim"] == dim; ConfigError naming both otherwise.
inline void check_state_header(JsonObjectReader& state, const std::string& kind, std::size_t dim) {
  std::string got = state.require<std::string>("kind");
  OAP_CHECK(got == kind, ConfigError,
            kind + ": cannot load the state of a \"" + got + "\" detector");
  auto d = state.require<std::uint64_t>("dim");
  OAP_CHECK(d == dim, ConfigError,
            kind + ": state has dim " + std::to_string(d) + ", this detector has dim " +
                std::to_string(dim));
}

}  // namespace oap::detail
