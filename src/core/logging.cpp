#include "oap/core/logging.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "oap/core/json_config.hpp"
#include "oap/core/mutex.hpp"

namespace oap {
namespace {

constexpr const char* kLoggerName = "oap";

// The library's logger, replaced by setup_logging(). A function-local static, so that it is
// built on first use whatever the order of static initialization.
struct LoggerState {
  Mutex mu;
  std::shared_ptr<spdlog::logger> logger OAP_GUARDED_BY(mu);
};
LoggerState& logger_state() {
  static LoggerState state;
  return state;
}

}  // namespace

void LogOptions::validate() const {
  auto parsed = spdlog::level::from_str(level);
  // from_str maps unknown names to "off"; only "off" itself may give "off".
  OAP_CHECK(parsed != spdlog::level::off || level == "off", ConfigError,
            "log.level: unknown level \"" + level +
                "\" (expected trace, debug, info, warn, error, critical or off)");
  OAP_CHECK(!pattern.empty(), ConfigError, "log.pattern must not be empty");
}

void to_json(nlohmann::json& j, const LogOptions& o) {
  j = {{"level", o.level}, {"file", o.file}, {"pattern", o.pattern}};
}

void from_json(const nlohmann::json& j, LogOptions& o) {
  JsonObjectReader r(j, "log");
  o.level = r.get<std::string>("level", o.level);
  o.file = r.get<std::string>("file", o.file);
  o.pattern = r.get<std::string>("pattern", o.pattern);
  r.finish();
  o.validate();
}

void setup_logging(const LogOptions& options) {
  options.validate();
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (options.file.empty()) {
      logger = std::make_shared<spdlog::logger>(
          kLoggerName, std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    } else {
      logger = std::make_shared<spdlog::logger>(
          kLoggerName, std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file));
    }
  } catch (const spdlog::spdlog_ex& e) {
    OAP_THROW(IoError, "log.file: cannot open \"" + options.file + "\": " + e.what());
  }
  logger->set_level(spdlog::level::from_str(options.level));
  logger->set_pattern(options.pattern);
  logger->flush_on(spdlog::level::warn);
  LoggerState& state = logger_state();
  MutexLock lock(state.mu);
  state.logger = std::move(logger);
}

namespace detail {

std::shared_ptr<spdlog::logger> logger() {
  LoggerState& state = logger_state();
  MutexLock lock(state.mu);
  if (!state.logger) {
    state.logger = std::make_shared<spdlog::logger>(
        kLoggerName, std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    state.logger->set_level(spdlog::level::warn);
  }
  return state.logger;
}

}  // namespace detail
}  // namespace oap
