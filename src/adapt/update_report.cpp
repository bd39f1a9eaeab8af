#include "oap/adapt/update_report.hpp"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "oap/core/json_config.hpp"

namespace oap {
namespace {
nlohmann::json loss_json(double v) { return std::isfinite(v) ? nlohmann::json(v) : nullptr; }
double loss_from(JsonObjectReader& r, const std::string& key) {
  const auto& v = r.raw(key);
  if (v.is_null()) return std::numeric_limits<double>::quiet_NaN();
  OAP_CHECK(v.is_number(), ConfigError,
            r.context() + "." + key + ": expected a number or null, got " + v.dump());
  return v.get<double>();
}
}  // namespace

void to_json(nlohmann::json& j, const UpdateReport& r) {
  j = {{"accepted", r.accepted},
       {"reason", r.reason},
       {"version", r.version},
       {"base_version", r.base_version},
       {"trigger_loss_before", loss_json(r.trigger_loss_before)},
       {"trigger_loss_after", loss_json(r.trigger_loss_after)},
       {"heldout_loss_before", loss_json(r.heldout_loss_before)},
       {"heldout_loss_after", loss_json(r.heldout_loss_after)},
       {"steps", r.steps},
       {"trigger_samples", r.trigger_samples},
       {"replay_samples", r.replay_samples},
       {"heldout_samples", r.heldout_samples},
       {"seconds", r.seconds}};
}

void from_json(const nlohmann::json& j, UpdateReport& r) {
  JsonObjectReader in(j, "update_report");
  r.accepted = in.get<bool>("accepted", r.accepted);
  r.reason = in.get<std::string>("reason", r.reason);
  r.version = in.get<std::string>("version", r.version);
  r.base_version = in.get<std::string>("base_version", r.base_version);
  r.trigger_loss_before = loss_from(in, "trigger_loss_before");
  r.trigger_loss_after = loss_from(in, "trigger_loss_after");
  r.heldout_loss_before = loss_from(in, "heldout_loss_before");
  r.heldout_loss_after = loss_from(in, "heldout_loss_after");
  r.steps = in.get<int>("steps", r.steps);
  r.trigger_samples = in.get<std::size_t>("trigger_samples", r.trigger_samples);
  r.replay_samples = in.get<std::size_t>("replay_samples", r.replay_samples);
  r.heldout_samples = in.get<std::size_t>("heldout_samples", r.heldout_samples);
  r.seconds = in.get<double>("seconds", r.seconds);
  in.finish();
}

}  // namespace oap
