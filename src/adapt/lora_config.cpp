#include "oap/adapt/lora_config.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "oap/core/json_config.hpp"
#include "oap/llm/peft_adapter.hpp"

namespace oap {

void LoraConfig::validate() const {
  OAP_CHECK(rank >= 1, ConfigError, "lora.rank must be >= 1, got " + std::to_string(rank));
  OAP_CHECK(std::isfinite(alpha) && alpha > 0, ConfigError,
            "lora.alpha must be a finite number > 0, got " + std::to_string(alpha));
  OAP_CHECK(dropout >= 0 && dropout < 1, ConfigError,
            "lora.dropout must be in [0, 1), got " + std::to_string(dropout));
  OAP_CHECK(!targets.empty(), ConfigError, "lora.targets is empty (e.g. [\"q_proj\", \"v_proj\"])");
  for (std::size_t i = 0; i < targets.size(); ++i) {
    OAP_CHECK(parse_lora_target(targets[i]).has_value(), ConfigError,
              "lora.targets[" + std::to_string(i) + "]: \"" + targets[i] +
                  "\" is not one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
    OAP_CHECK(std::find(targets.begin(), targets.begin() + static_cast<long>(i), targets[i]) ==
                  targets.begin() + static_cast<long>(i),
              ConfigError, "lora.targets: \"" + targets[i] + "\" is listed twice");
  }
}

PeftAdapterConfig LoraConfig::peft() const {
  validate();
  PeftAdapterConfig p;
  p.rank = rank;
  p.alpha = alpha;
  p.rslora = rslora;
  for (const auto& t : targets) p.targets.push_back(*parse_lora_target(t));
  return p;
}

void to_json(nlohmann::json& j, const LoraConfig& c) {
  j = {{"rank", c.rank},       {"alpha", c.alpha},   {"dropout", c.dropout},
       {"targets", c.targets}, {"rslora", c.rslora}, {"init_seed", c.init_seed}};
}

void from_json(const nlohmann::json& j, LoraConfig& c) {
  JsonObjectReader r(j, "lora");
  c.rank = r.get<std::int64_t>("rank", c.rank);
  c.alpha = r.get<double>("alpha", c.alpha);
  c.dropout = r.get<double>("dropout", c.dropout);
  c.targets = r.get<std::vector<std::string>>("targets", c.targets);
  c.rslora = r.get<bool>("rslora", c.rslora);
  c.init_seed = r.get<std::uint64_t>("init_seed", c.init_seed);
  r.finish();
  c.validate();
}

}  // namespace oap
