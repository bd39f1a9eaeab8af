// Which of a user's events an update learns from and is judged on (src/personalizer, private).
#include "personalizer/training_plan.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "oap/core/error.hpp"

namespace oap {
namespace {

// Events 0..n-1 whose text is their index; encode() gives [index, index] so a sample says
// which event it came from.
std::vector<Event> events(int n) {
  std::vector<Event> out;
  for (int i = 0; i < n; ++i) {
    Event e;
    e.user = "u";
    e.text = std::to_string(i);
    out.push_back(e);
  }
  return out;
}
std::vector<std::int32_t> encode(const std::string& text) {
  const int i = std::stoi(text);
  return {i, i};
}
std::vector<int> indices(const std::vector<TrainingSample>& samples) {
  std::vector<int> out;
  for (const auto& s : samples) out.push_back(s.tokens[0]);
  return out;
}

TEST(TrainingPlan, AnAdaptIsJudgedOnHistoryItDoesNotTrainOn) {
  UpdatePlanOptions o;
  o.trigger_samples = 4;
  o.replay_samples = 3;
  o.heldout_samples = 2;
  detail::UpdatePlan plan{.event = 29, .trigger_start = 27, .weight = 0.5, .new_context = false};
  const auto data = detail::plan_training_data(events(30), 29, plan, o, encode);
  EXPECT_EQ(indices(data.trigger), (std::vector<int>{27, 28, 29}));
  for (const auto& s : data.trigger) EXPECT_EQ(s.weight, 0.5);
  // History newest first, alternately held out and replayed.
  EXPECT_EQ(indices(data.heldout), (std::vector<int>{26, 24}));
  EXPECT_EQ(indices(data.replay), (std::vector<int>{25, 23, 22}));
}

// A consolidation's unconfirmed deviations (plan.leave_out) are neither learned nor held out
// nor replayed.
TEST(TrainingPlan, LeftOutEventsAreNeverUsed) {
  UpdatePlanOptions o;
  o.trigger_samples = 16;
  o.replay_samples = 3;
  o.heldout_samples = 2;
  detail::UpdatePlan plan{.event = 29, .trigger_start = 20, .weight = 1.0, .new_context = false};
  plan.leave_out = {17, 18, 22, 23};
  const auto data = detail::plan_training_data(events(30), 29, plan, o, encode);
  EXPECT_EQ(indices(data.trigger), (std::vector<int>{20, 21, 24, 25, 26, 27, 28, 29}));
  EXPECT_EQ(indices(data.heldout), (std::vector<int>{19, 15}));
  EXPECT_EQ(indices(data.replay), (std::vector<int>{16, 14, 13}));
  // Unsorted, the binary search would miss events: refused.
  plan.leave_out = {23, 17};
  EXPECT_THROW(detail::plan_training_data(events(30), 29, plan, o, encode), InvalidArgument);
}

// The update a decision asks for, and two queued updates of a user coalesced into one.
TEST(TrainingPlan, DecisionsBecomePlansAndQueuedPlansMerge) {
  Decision adapt;
  adapt.action = Action::kAdapt;
  adapt.trigger_start = 12;
  adapt.sample_weight = 0.4;
  adapt.consolidation = true;
  const auto consolidation = detail::plan_of(14, adapt);
  EXPECT_EQ(consolidation.event, 14u);
  EXPECT_EQ(consolidation.trigger_start, 12);
  EXPECT_EQ(consolidation.weight, 0.4);
  EXPECT_FALSE(consolidation.new_context);
  EXPECT_FALSE(consolidation.judge_on_trigger);
  EXPECT_TRUE(consolidation.consolidation);
  Decision follow_up = adapt;
  follow_up.consolidation = false;
  follow_up.follow_up = true;
  EXPECT_TRUE(detail::plan_of(14, follow_up).judge_on_trigger);
  Decision shift;
  shift.action = Action::kNewContext;
  shift.trigger_start = 15;
  shift.sample_weight = 0.9;
  const auto new_context = detail::plan_of(18, shift);
  EXPECT_TRUE(new_context.new_context);
  EXPECT_TRUE(new_context.judge_on_trigger);
  EXPECT_FALSE(new_context.consolidation);

  auto merged = consolidation;
  detail::merge_into(merged, new_context);
  EXPECT_EQ(merged.event, 18u);
  EXPECT_EQ(merged.trigger_start, 12);
  EXPECT_EQ(merged.weight, 0.9);
  EXPECT_TRUE(merged.new_context);
  EXPECT_TRUE(merged.judge_on_trigger);
  EXPECT_FALSE(merged.consolidation);  // merged with a deviation's update: nothing left out
  auto two = consolidation;
  detail::merge_into(two, detail::plan_of(20, adapt));
  EXPECT_TRUE(two.consolidation);
  EXPECT_EQ(two.event, 20u);
}

TEST(TrainingPlan, ANewContextIsJudgedOnItsOwnEvents) {
  UpdatePlanOptions o;
  o.trigger_samples = 8;
  o.replay_samples = 3;
  o.heldout_samples = 4;
  detail::UpdatePlan plan{.event = 29,
                          .trigger_start = 22,
                          .weight = 0.5,
                          .new_context = true,
                          .judge_on_trigger = true};
  const auto data = detail::plan_training_data(events(30), 29, plan, o, encode);
  // Every fourth of the shift's events is held out; the old history is only replayed.
  EXPECT_EQ(indices(data.heldout), (std::vector<int>{25, 29}));
  EXPECT_EQ(indices(data.trigger), (std::vector<int>{22, 23, 24, 26, 27, 28}));
  for (const auto& s : data.trigger) EXPECT_EQ(s.weight, 1.0);
  EXPECT_EQ(indices(data.replay), (std::vector<int>{21, 20, 19}));

  // Too few events of the new context to spare any: judged on the history, as an adapt.
  plan.trigger_start = 27;
  const auto few = detail::plan_training_data(events(30), 29, plan, o, encode);
  EXPECT_EQ(indices(few.trigger), (std::vector<int>{27, 28, 29}));
  EXPECT_EQ(indices(few.heldout), (std::vector<int>{26, 24, 22, 20}));
}

// A follow-up of a new context: judged on its own events as the new context is, but with the
// adapt's weight (its events are the new behaviour, learned as usual).
TEST(TrainingPlan, AFollowUpIsJudgedOnItsOwnEventsWithTheAdaptsWeight) {
  UpdatePlanOptions o;
  o.trigger_samples = 8;
  o.replay_samples = 3;
  o.heldout_samples = 4;
  detail::UpdatePlan plan{.event = 29,
                          .trigger_start = 22,
                          .weight = 0.5,
                          .new_context = false,
                          .judge_on_trigger = true};
  const auto data = detail::plan_training_data(events(30), 29, plan, o, encode);
  EXPECT_EQ(indices(data.heldout), (std::vector<int>{25, 29}));
  EXPECT_EQ(indices(data.trigger), (std::vector<int>{22, 23, 24, 26, 27, 28}));
  for (const auto& s : data.trigger) EXPECT_EQ(s.weight, 0.5);
  EXPECT_EQ(indices(data.replay), (std::vector<int>{21, 20, 19}));
}

}  // namespace
}  // namespace oap
