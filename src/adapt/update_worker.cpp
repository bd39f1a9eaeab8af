#include "oap/adapt/update_worker.hpp"

#include <nlohmann/json.hpp>

#include "oap/core/json_config.hpp"

namespace oap {

namespace {
constexpr std::size_t kMaxConcurrency = 1024;
}  // namespace

const char* to_string(BackPressure b) {
  switch (b) {
    case BackPressure::kCoalesce:
      return "coalesce";
    case BackPressure::kReject:
      return "reject";
  }
  return "unknown";
}

const char* to_string(SubmitStatus s) {
  switch (s) {
    case SubmitStatus::kQueued:
      return "queued";
    case SubmitStatus::kCoalesced:
      return "coalesced";
    case SubmitStatus::kRejected:
      return "rejected";
  }
  return "unknown";
}

void UpdateWorkerOptions::validate() const {
  OAP_CHECK(concurrency >= 1 && concurrency <= kMaxConcurrency, ConfigError,
            "update_worker.concurrency must be in 1.." + std::to_string(kMaxConcurrency) +
                " (worker threads), got " + std::to_string(concurrency));
  OAP_CHECK(max_pending >= 1, ConfigError, "update_worker.max_pending must be >= 1, got 0");
  OAP_CHECK(back_pressure == BackPressure::kCoalesce || back_pressure == BackPressure::kReject,
            ConfigError,
            "update_worker.back_pressure has no valid value (" +
                std::to_string(static_cast<int>(back_pressure)) + ")");
}

void to_json(nlohmann::json& j, const UpdateWorkerOptions& o) {
  j = {{"concurrency", o.concurrency},
       {"max_pending", o.max_pending},
       {"back_pressure", to_string(o.back_pressure)}};
}

void from_json(const nlohmann::json& j, UpdateWorkerOptions& o) {
  JsonObjectReader r(j, "update_worker");
  o.concurrency = r.get<std::size_t>("concurrency", o.concurrency);
  o.max_pending = r.get<std::size_t>("max_pending", o.max_pending);
  std::string back_pressure = r.get<std::string>("back_pressure", to_string(o.back_pressure));
  OAP_CHECK(back_pressure == "coalesce" || back_pressure == "reject", ConfigError,
            "update_worker.back_pressure must be \"coalesce\" or \"reject\", got \"" +
                back_pressure + "\"");
  o.back_pressure = back_pressure == "coalesce" ? BackPressure::kCoalesce : BackPressure::kReject;
  r.finish();
  o.validate();
}

namespace detail {

std::string update_queue_full_reason(std::size_t waiting) {
  return "update queue full: " + std::to_string(waiting) +
         (waiting == 1 ? " request waiting" : " requests waiting") +
         " (update_worker.max_pending); submit again once updates have run, "
         "or raise max_pending";
}

std::exception_ptr update_rejected_error(const std::string& reason) {
  return std::make_exception_ptr(UpdateRejected("update request rejected: " + reason));
}

std::exception_ptr update_cancelled_error(const UserId& user) {
  return std::make_exception_ptr(
      UpdateCancelled("update for user \"" + user +
                      "\" cancelled at shutdown before it ran; shutdown(kCancel) handed the "
                      "request back to its caller"));
}

void check_not_inside_run(const void* worker, const void* current, const char* method) {
  OAP_CHECK(worker != current, InvalidArgument,
            std::string("UpdateWorker::") + method +
                " called from inside the worker's own run function; it would wait for that run "
                "to end (call it from another thread)");
}

void check_run_function(bool present) {
  OAP_CHECK(present, InvalidArgument, "UpdateWorker needs a run function, got an empty one");
}

}  // namespace detail

}  // namespace oap
