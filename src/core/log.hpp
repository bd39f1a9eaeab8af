#pragma once
// Private: the library's logger, for use inside src/ only.

#include <spdlog/spdlog.h>

#include <memory>

namespace oap::detail {

// The "oap" logger; created on first use (stderr, level warn) unless setup_logging ran.
std::shared_ptr<spdlog::logger> logger();

}  // namespace oap::detail
