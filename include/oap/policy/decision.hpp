#pragma once
// Decision: what the deviation policy says to do about one event.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace oap {

// The actions of the deviation policy, from "nothing" to "hand it to a human".
enum class Action {
  kIgnore,      // in line with the user's history: nothing to do
  kObserve,     // deviates, but not (yet) enough to act on: keep watching, learn nothing from it
  kAdapt,       // a rapid update of the user's adapter on the deviating events, weighted
  kNewContext,  // a sustained shift: adapt harder (more steps, less replay) on the shift's events
  kEscalate,    // a deviation the application should see (e.g. hand a support chat to a human)
  kRollback,    // the user went back to the old behaviour and the shift-time update hurt
};

// "ignore", "observe", "adapt", "new_context", "escalate", "rollback".
std::string_view action_name(Action a);
std::optional<Action> parse_action(std::string_view name);

// A decision and why. Plain value type.
struct Decision {
  Action action = Action::kIgnore;
  // The weight of this event's text in an update (kAdapt, kNewContext), in [0, 1], from the
  // deviation's strength; 0 otherwise.
  double sample_weight = 0.0;
  // For kAdapt and kNewContext: the user's first event index the update should learn from
  // (the start of the run of deviating events, or of the shift); -1 otherwise.
  std::int64_t trigger_start = -1;
  // Human-readable: the rule that decided and the numbers it saw ("sustained shift since event
  // 41 (CUSUM 9.2 > 8)").
  std::string reason;
  // kAdapt only: a follow-up of the last new context (DeviationPolicyOptions::follow_up_*): it
  // learns the events since the shift, and is judged, as the new context is, on held-out events
  // of the new behaviour rather than on the history it replaces.
  bool follow_up = false;
  // kAdapt only: a consolidation (DeviationPolicyOptions::consolidate_every): it learns the
  // user's normal behaviour since the last update and leaves out the events the policy only
  // observed (deviations that no update confirmed, such as a blip).
  bool consolidation = false;

  friend bool operator==(const Decision&, const Decision&) = default;
};

void to_json(nlohmann::json& j, const Decision& d);
void from_json(const nlohmann::json& j, Decision& d);

}  // namespace oap
