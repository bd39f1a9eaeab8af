#include "oap/policy/decision.hpp"

#include <array>
#include <nlohmann/json.hpp>

#include "oap/core/json_config.hpp"

namespace oap {
namespace {
constexpr std::array<std::string_view, 6> kNames = {"ignore",      "observe",  "adapt",
                                                     "new_context", "escalate", "rollback"};
}  // namespace

std::string_view action_name(Action a) { return kNames[static_cast<std::size_t>(a)]; }

std::optional<Action> parse_action(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<Action>(i);
  }
  return std::nullopt;
}

void to_json(nlohmann::json& j, const Decision& d) {
  j = {{"action", std::string(action_name(d.action))},
       {"sample_weight", d.sample_weight},
       {"trigger_start", d.trigger_start},
       {"reason", d.reason}};
  if (d.follow_up) j["follow_up"] = true;  // absent when false: older records read the same
  if (d.consolidation) j["consolidation"] = true;  // the same
}

void from_json(const nlohmann::json& j, Decision& d) {
  JsonObjectReader r(j, "decision");
  const auto name = r.get<std::string>("action", std::string(action_name(d.action)));
  const auto action = parse_action(name);
  OAP_CHECK(action.has_value(), ConfigError,
            "decision.action: \"" + name +
                "\" is not one of ignore, observe, adapt, new_context, escalate, rollback");
  d.action = *action;
  d.sample_weight = r.get<double>("sample_weight", d.sample_weight);
  d.trigger_start = r.get<std::int64_t>("trigger_start", d.trigger_start);
  d.follow_up = r.get<bool>("follow_up", d.follow_up);
  d.consolidation = r.get<bool>("consolidation", d.consolidation);
  d.reason = r.get<std::string>("reason", d.reason);
  r.finish();
}

}  // namespace oap
