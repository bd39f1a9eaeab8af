#include "personalizer/training_plan.hpp"

#include <algorithm>
#include <optional>

#include "oap/core/error.hpp"

namespace oap::detail {

namespace {

// Moves every n-th trigger sample (the n-th, 2n-th, ...) to the held-out samples, up to `most`
// held out in all; the rest stay in order.
void hold_out_every(std::size_t n, std::size_t most, TrainingData& data) {
  std::vector<TrainingSample> kept;
  for (std::size_t i = 0; i < data.trigger.size(); ++i) {
    if (i % n == n - 1 && data.heldout.size() < most) {
      data.heldout.push_back(std::move(data.trigger[i]));
    } else {
      kept.push_back(std::move(data.trigger[i]));
    }
  }
  data.trigger = std::move(kept);
}

}  // namespace

UpdatePlan plan_of(std::uint64_t event, const Decision& decision) {
  UpdatePlan plan;
  plan.event = event;
  plan.trigger_start = decision.trigger_start;
  plan.weight = decision.sample_weight;
  plan.new_context = decision.action == Action::kNewContext;
  plan.judge_on_trigger = plan.new_context || decision.follow_up;
  plan.consolidation = decision.consolidation;
  return plan;
}

void merge_into(UpdatePlan& pending, const UpdatePlan& incoming) {
  pending.trigger_start = std::min(pending.trigger_start, incoming.trigger_start);
  pending.event = std::max(pending.event, incoming.event);
  pending.weight = std::max(pending.weight, incoming.weight);
  pending.new_context = pending.new_context || incoming.new_context;
  pending.judge_on_trigger = pending.judge_on_trigger || incoming.judge_on_trigger;
  pending.consolidation = pending.consolidation && incoming.consolidation;
}

TrainingData plan_training_data(
    const std::vector<Event>& recent, std::uint64_t last_index, const UpdatePlan& plan,
    const UpdatePlanOptions& options,
    const std::function<std::vector<std::int32_t>(const std::string&)>& encode) {
  OAP_CHECK(std::is_sorted(plan.leave_out.begin(), plan.leave_out.end()), InvalidArgument,
            "plan_training_data: UpdatePlan::leave_out must be sorted ascending");
  TrainingData data;
  if (recent.empty()) return data;
  // Index of recent[i]: last_index - (recent.size() - 1 - i).
  const auto first_index =
      static_cast<std::int64_t>(last_index) - static_cast<std::int64_t>(recent.size()) + 1;
  auto index_of = [&](std::size_t i) { return first_index + static_cast<std::int64_t>(i); };
  auto sample = [&](std::size_t i, double weight) -> std::optional<TrainingSample> {
    const Event& e = recent[i];
    if (e.text.empty() || std::binary_search(plan.leave_out.begin(), plan.leave_out.end(),
                                             static_cast<std::uint64_t>(index_of(i)))) {
      return std::nullopt;
    }
    auto ids = encode(e.text);
    if (ids.size() < 2) return std::nullopt;
    return TrainingSample{std::move(ids), weight};
  };
  const double weight = plan.new_context ? 1.0 : plan.weight;
  // Trigger: newest first, then put back in time order.
  for (std::size_t i = recent.size(); i-- > 0 && data.trigger.size() < options.trigger_samples;) {
    const auto idx = index_of(i);
    if (idx > static_cast<std::int64_t>(plan.event)) continue;
    if (idx < plan.trigger_start) break;
    if (auto s = sample(i, weight)) data.trigger.push_back(std::move(*s));
  }
  std::reverse(data.trigger.begin(), data.trigger.end());
  // A new context is judged on the new behaviour: every fourth trigger sample is held out (the
  // history it replaces would only say that learning the new behaviour unlearns the old).
  const bool hold_new = plan.judge_on_trigger && options.heldout_samples > 0 &&
                        data.trigger.size() >= kNewContextMinTrigger;
  if (hold_new) hold_out_every(4, options.heldout_samples, data);
  // History before the trigger, newest first: alternately held out and replayed (only
  // replayed for a new context judged on its own events).
  bool hold = options.heldout_samples > 0 && !hold_new;
  for (std::size_t i = recent.size(); i-- > 0;) {
    if (index_of(i) >= plan.trigger_start) continue;
    if (data.replay.size() >= options.replay_samples &&
        (hold_new || data.heldout.size() >= options.heldout_samples)) {
      break;
    }
    auto s = sample(i, 1.0);
    if (!s) continue;
    const bool to_heldout = !hold_new && ((hold && data.heldout.size() < options.heldout_samples) ||
                                          data.replay.size() >= options.replay_samples);
    if (to_heldout && data.heldout.size() < options.heldout_samples) {
      data.heldout.push_back(std::move(*s));
    } else if (data.replay.size() < options.replay_samples) {
      data.replay.push_back(std::move(*s));
    }
    hold = !hold;
  }
  // No history before the trigger (a first profile): hold out every fifth trigger sample.
  if (data.heldout.empty() && data.replay.empty() && options.heldout_samples > 0 &&
      data.trigger.size() >= 5) {
    hold_out_every(5, options.heldout_samples, data);
  }
  return data;
}

}  // namespace oap::detail
