#include "oap/adapt/rapid_trainer_options.hpp"

#include <cmath>
#include <sstream>
#include <nlohmann/json.hpp>

#include "oap/core/json_config.hpp"

namespace oap {
namespace {
std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}
}  // namespace

void RapidTrainerOptions::validate() const {
  const std::string p = "trainer.";
  OAP_CHECK(steps >= 1, ConfigError, p + "steps must be >= 1, got " + std::to_string(steps));
  OAP_CHECK(std::isfinite(learning_rate) && learning_rate > 0, ConfigError,
            p + "learning_rate must be a finite number > 0, got " + num(learning_rate));
  OAP_CHECK(std::isfinite(weight_decay) && weight_decay >= 0, ConfigError,
            p + "weight_decay must be >= 0, got " + num(weight_decay));
  OAP_CHECK(beta1 >= 0 && beta1 < 1, ConfigError, p + "beta1 must be in [0, 1), got " + num(beta1));
  OAP_CHECK(beta2 >= 0 && beta2 < 1, ConfigError, p + "beta2 must be in [0, 1), got " + num(beta2));
  OAP_CHECK(std::isfinite(epsilon) && epsilon > 0, ConfigError,
            p + "epsilon must be > 0, got " + num(epsilon));
  OAP_CHECK(std::isfinite(max_grad_norm) && max_grad_norm >= 0, ConfigError,
            p + "max_grad_norm must be >= 0, got " + num(max_grad_norm));
  OAP_CHECK(std::isfinite(replay_ratio) && replay_ratio >= 0, ConfigError,
            p + "replay_ratio must be >= 0, got " + num(replay_ratio));
  OAP_CHECK(batch_size >= 1, ConfigError, p + "batch_size must be >= 1, got 0");
  OAP_CHECK(max_tokens >= 2, ConfigError,
            p + "max_tokens must be >= 2, got " + std::to_string(max_tokens));
  OAP_CHECK(patience >= 0, ConfigError, p + "patience must be >= 0, got " + std::to_string(patience));
  OAP_CHECK(std::isfinite(min_improvement) && min_improvement >= 0, ConfigError,
            p + "min_improvement must be >= 0, got " + num(min_improvement));
  OAP_CHECK(std::isfinite(heldout_tolerance) && heldout_tolerance >= 0, ConfigError,
            p + "heldout_tolerance must be >= 0, got " + num(heldout_tolerance));
  OAP_CHECK(std::isfinite(heldout_tolerance_abs) && heldout_tolerance_abs >= 0, ConfigError,
            p + "heldout_tolerance_abs must be >= 0, got " + num(heldout_tolerance_abs));
}

void to_json(nlohmann::json& j, const RapidTrainerOptions& o) {
  j = {{"steps", o.steps},
       {"learning_rate", o.learning_rate},
       {"weight_decay", o.weight_decay},
       {"beta1", o.beta1},
       {"beta2", o.beta2},
       {"epsilon", o.epsilon},
       {"max_grad_norm", o.max_grad_norm},
       {"replay_ratio", o.replay_ratio},
       {"batch_size", o.batch_size},
       {"max_tokens", o.max_tokens},
       {"patience", o.patience},
       {"min_improvement", o.min_improvement},
       {"heldout_tolerance", o.heldout_tolerance},
       {"heldout_tolerance_abs", o.heldout_tolerance_abs},
       {"require_trigger_improvement", o.require_trigger_improvement},
       {"seed", o.seed}};
}

void from_json(const nlohmann::json& j, RapidTrainerOptions& o) {
  JsonObjectReader r(j, "trainer");
  o.steps = r.get<int>("steps", o.steps);
  o.learning_rate = r.get<double>("learning_rate", o.learning_rate);
  o.weight_decay = r.get<double>("weight_decay", o.weight_decay);
  o.beta1 = r.get<double>("beta1", o.beta1);
  o.beta2 = r.get<double>("beta2", o.beta2);
  o.epsilon = r.get<double>("epsilon", o.epsilon);
  o.max_grad_norm = r.get<double>("max_grad_norm", o.max_grad_norm);
  o.replay_ratio = r.get<double>("replay_ratio", o.replay_ratio);
  o.batch_size = r.get<std::size_t>("batch_size", o.batch_size);
  o.max_tokens = r.get<std::size_t>("max_tokens", o.max_tokens);
  o.patience = r.get<int>("patience", o.patience);
  o.min_improvement = r.get<double>("min_improvement", o.min_improvement);
  o.heldout_tolerance = r.get<double>("heldout_tolerance", o.heldout_tolerance);
  o.heldout_tolerance_abs = r.get<double>("heldout_tolerance_abs", o.heldout_tolerance_abs);
  o.require_trigger_improvement =
      r.get<bool>("require_trigger_improvement", o.require_trigger_improvement);
  o.seed = r.get<std::uint64_t>("seed", o.seed);
  r.finish();
  o.validate();
}

}  // namespace oap
