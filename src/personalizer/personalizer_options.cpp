#include "oap/personalizer_options.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "oap/core/json_config.hpp"

namespace oap {

DetectorBankOptions personalizer_detect_defaults() {
  DetectorBankOptions o;
  o.context.season = StreamContextOptions::Season::kNone;
  o.hold_back_flagged = true;
  return o;
}

void UpdatePlanOptions::validate() const {
  const std::string p = "personalizer.";
  OAP_CHECK(trigger_samples >= 1, ConfigError, p + "trigger_samples must be >= 1, got 0");
  OAP_CHECK(
      std::isfinite(new_context_steps_factor) && new_context_steps_factor > 0, ConfigError,
      p + "new_context_steps_factor must be > 0, got " + std::to_string(new_context_steps_factor));
  OAP_CHECK(std::isfinite(new_context_replay_factor) && new_context_replay_factor >= 0, ConfigError,
            p + "new_context_replay_factor must be >= 0, got " +
                std::to_string(new_context_replay_factor));
  OAP_CHECK(max_text_bytes >= 1, ConfigError, p + "max_text_bytes must be >= 1, got 0");
}

void to_json(nlohmann::json& j, const UpdatePlanOptions& o) {
  j = {{"trigger_samples", o.trigger_samples},
       {"replay_samples", o.replay_samples},
       {"heldout_samples", o.heldout_samples},
       {"new_context_steps_factor", o.new_context_steps_factor},
       {"new_context_replay_factor", o.new_context_replay_factor},
       {"wait_for_updates", o.wait_for_updates},
       {"max_text_bytes", o.max_text_bytes},
       {"text_signals", o.text_signals == TextSignals::kAuto ? "auto" : "never"}};
}

void from_json(const nlohmann::json& j, UpdatePlanOptions& o) {
  JsonObjectReader r(j, "personalizer");
  o.trigger_samples = r.get<std::size_t>("trigger_samples", o.trigger_samples);
  o.replay_samples = r.get<std::size_t>("replay_samples", o.replay_samples);
  o.heldout_samples = r.get<std::size_t>("heldout_samples", o.heldout_samples);
  o.new_context_steps_factor =
      r.get<double>("new_context_steps_factor", o.new_context_steps_factor);
  o.new_context_replay_factor =
      r.get<double>("new_context_replay_factor", o.new_context_replay_factor);
  o.wait_for_updates = r.get<bool>("wait_for_updates", o.wait_for_updates);
  o.max_text_bytes = r.get<std::size_t>("max_text_bytes", o.max_text_bytes);
  const auto signals =
      r.get<std::string>("text_signals", o.text_signals == TextSignals::kAuto ? "auto" : "never");
  OAP_CHECK(signals == "auto" || signals == "never", ConfigError,
            "personalizer.text_signals must be \"auto\" or \"never\", got \"" + signals + "\"");
  o.text_signals = signals == "auto" ? TextSignals::kAuto : TextSignals::kNever;
  r.finish();
  o.validate();
}

void PersonalizerOptions::validate() const {
  OAP_CHECK(!data_dir.empty(), ConfigError, "personalizer: data_dir is required");
  store.validate();
  detect.validate();
  policy.validate();
  adapters.validate();
  text_features.validate();
  personalizer.validate();
}

}  // namespace oap
