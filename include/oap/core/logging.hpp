#pragma once
// Logging setup for the library's spdlog logger, named "oap".

#include <nlohmann/json_fwd.hpp>
#include <string>

namespace oap {

struct LogOptions {
  // One of trace, debug, info, warn, error, critical, off. Default: "info".
  std::string level = "info";
  // If non-empty, log to this file (appending) instead of standard error. Default: "".
  std::string file;
  // spdlog pattern. Default: "[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %v".
  std::string pattern = "[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %v";

  void validate() const;
};
void to_json(nlohmann::json& j, const LogOptions& o);
void from_json(const nlohmann::json& j, LogOptions& o);

// (Re)configures the "oap" logger. Without a call, the library logs warnings and errors to
// standard error. Thread-safe; messages logged concurrently with a reconfiguration go to the
// old or the new sink.
void setup_logging(const LogOptions& options);

}  // namespace oap
