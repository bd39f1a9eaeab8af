#pragma once
// Private: which of a user's recent events an update learns from (trigger, replay, held-out).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "oap/adapt/rapid_trainer.hpp"
#include "oap/core/event.hpp"
#include "oap/personalizer_options.hpp"
#include "oap/policy/decision.hpp"

namespace oap::detail {

// What one update is about: decided at the user's event `event`, learning the events from
// trigger_start to event (inclusive) with weight `weight`.
struct UpdatePlan {
  std::uint64_t event = 0;
  std::int64_t trigger_start = 0;
  double weight = 1.0;
  bool new_context = false;
  // Judged on held-out events of the trigger (the new behaviour), not on the history before it:
  // a new context and its follow-ups (Decision::follow_up).
  bool judge_on_trigger = false;
  // A consolidation (Decision::consolidation): the events the policy only observed (unconfirmed
  // deviations) go into leave_out when the update runs.
  bool consolidation = false;
  // User event indices never learned from nor held out, sorted ascending.
  std::vector<std::uint64_t> leave_out = {};
};

// The update a kAdapt or kNewContext decision taken at the user's event `event` asks for.
UpdatePlan plan_of(std::uint64_t event, const Decision& decision);

// Coalesces a user's queued update with a newer one: one update that learns from the earliest
// trigger to the latest event, as strongly and as a new context if either is. Merged with a
// deviation's update, a consolidation leaves nothing out.
void merge_into(UpdatePlan& pending, const UpdatePlan& incoming);

// Splits `recent` (the user's latest events, oldest first; the last of them has index
// last_index) into training data:
//   trigger: events with index in [trigger_start, plan.event] that have text, the newest
//            options.trigger_samples of them, each with weight plan.weight;
//   history: events before trigger_start with text, newest first, alternately held out (up to
//            heldout_samples) and replayed (up to replay_samples);
//   with no history before the trigger (a first profile), every fifth trigger sample is held out
//   instead, up to heldout_samples, so the gate still has something to judge;
//   for plan.judge_on_trigger with at least kNewContextMinTrigger trigger samples, every fourth
//   trigger sample is held out instead (up to heldout_samples) and the history is only replayed:
//   the gate judges the update on the new behaviour, not on the history it replaces (the
//   evaluation saw 4 of 6 big shifts' new-context updates rejected for unlearning the old one);
//   events in plan.leave_out are skipped everywhere (InvalidArgument unless it is sorted).
inline constexpr std::size_t kNewContextMinTrigger = 4;
// encode turns a text into token ids; texts of fewer than 2 tokens are skipped.
TrainingData plan_training_data(
    const std::vector<Event>& recent, std::uint64_t last_index, const UpdatePlan& plan,
    const UpdatePlanOptions& options,
    const std::function<std::vector<std::int32_t>(const std::string&)>& encode);

}  // namespace oap::detail
