#include "oap/policy/deviation_policy.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "oap/core/error.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;

// Feeds a user's stream through the policy, one input per event, keeping the state.
class Stream {
 public:
  explicit Stream(DeviationPolicyOptions o = {}) : policy_(o) {}

  Decision next(double p, ShiftState shift = ShiftState::kNone, std::int64_t shift_start = -1,
                double seconds_apart = 60.0) {
    PolicyInput in;
    in.event_index = index_;
    in.time = timestamp_from_micros(1'700'000'000'000'000 +
                                    static_cast<std::int64_t>(seconds_ * 1e6));
    in.p_value = p;
    in.detector = "zscore";
    in.shift.state = shift;
    in.shift.start = shift_start;
    in.surprise = surprise_;
    in.surprise_previous = surprise_previous_;
    auto [d, s] = policy_.decide(in, state_);
    state_ = s;
    ++index_;
    seconds_ += seconds_apart;
    return d;
  }
  // Normal events until (not including) index n.
  void normal_until(std::int64_t n) {
    while (index_ < n) next(0.5);
  }

  std::int64_t index_ = 0;
  double seconds_ = 0;
  PolicyState state_;
  std::optional<double> surprise_, surprise_previous_;
  DeviationPolicy policy_;
};

TEST(DeviationPolicy, NormalEventsAreIgnoredAndTheProfileIsLearnedOnce) {
  Stream s;
  for (int i = 0; i < 19; ++i) EXPECT_EQ(s.next(0.4).action, Action::kIgnore) << i;
  const auto d = s.next(0.4);  // the 20th event
  EXPECT_EQ(d.action, Action::kAdapt);
  EXPECT_EQ(d.trigger_start, 0);
  EXPECT_DOUBLE_EQ(d.sample_weight, 1.0);
  EXPECT_THAT(d.reason, HasSubstr("initial profile from the first 20 events"));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(s.next(0.4).action, Action::kIgnore);
}

TEST(DeviationPolicy, ALoneBlipIsObservedNotLearned) {
  Stream s;
  s.normal_until(40);
  const auto blip = s.next(1e-5);
  EXPECT_EQ(blip.action, Action::kObserve);
  EXPECT_THAT(blip.reason, HasSubstr("1 of the last 6 events flagged"));
  EXPECT_THAT(blip.reason, HasSubstr("not learned"));
  EXPECT_EQ(s.next(0.3).action, Action::kIgnore);
}

TEST(DeviationPolicy, ARepeatedDeviationAdaptsWithAWeightFromItsStrength) {
  Stream s;
  s.normal_until(40);
  EXPECT_EQ(s.next(1e-3).action, Action::kObserve);  // event 40
  EXPECT_EQ(s.next(0.5).action, Action::kIgnore);
  const auto two = s.next(1e-3);  // event 42: 2 of the last 6, a blip of two is watched
  EXPECT_EQ(two.action, Action::kObserve);
  EXPECT_THAT(two.reason, HasSubstr("2 of the last 6 events flagged): watching"));
  const auto d = s.next(1e-4);  // event 43: 3 of the last 6
  EXPECT_EQ(d.action, Action::kAdapt);
  EXPECT_EQ(d.trigger_start, 40);
  EXPECT_THAT(d.reason, HasSubstr("3 of the last 6 events flagged"));
  // Weight: log-linear between min_weight at alpha = 0.01 and 1 at 1e-6.
  EXPECT_NEAR(d.sample_weight, 0.25 + 0.75 * 2.0 / 4.0, 1e-12);
  const DeviationPolicy p;
  EXPECT_DOUBLE_EQ(p.weight_for(0.02), 0.25);
  EXPECT_DOUBLE_EQ(p.weight_for(1e-9), 1.0);
}

TEST(DeviationPolicy, CooldownHoldsBackAdaptationButNotANewContext) {
  Stream s;
  s.normal_until(40);
  s.next(1e-4);
  s.next(1e-4);
  ASSERT_EQ(s.next(1e-4).action, Action::kAdapt);  // event 42
  for (int i = 0; i < 5; ++i) {
    const auto d = s.next(1e-4);
    EXPECT_EQ(d.action, Action::kObserve) << i;
    EXPECT_THAT(d.reason, HasSubstr("cooldown"));
    EXPECT_THAT(d.reason, HasSubstr(i == 0 ? "cooldown: 1 event since the update at event 42"
                                           : "cooldown: " + std::to_string(i + 1) + " events"));
  }
  EXPECT_EQ(s.next(1e-4).action, Action::kAdapt);  // 6 events after: cooldown over
  // A sustained shift right after an update still gives a new context.
  const auto d = s.next(1e-4, ShiftState::kSustained, 44);
  EXPECT_EQ(d.action, Action::kNewContext);
  EXPECT_EQ(d.trigger_start, 44);
  EXPECT_DOUBLE_EQ(d.sample_weight, 1.0);
  EXPECT_THAT(d.reason, HasSubstr("sustained shift since event 44"));
}

TEST(DeviationPolicy, RateLimitCapsUpdatesOfANoisyUser) {
  DeviationPolicyOptions o;
  o.max_updates = 3;
  o.rate_window_seconds = 3600;
  o.cooldown_events = 0;
  o.initial_adapt_after = 0;
  Stream s(o);
  int updates = 0;
  // Every event deviates, one a minute: 3 updates an hour at most.
  for (int i = 0; i < 60; ++i) {
    const auto d = s.next(1e-4);
    if (d.action == Action::kAdapt) ++updates;
    if (i > 10 && d.action == Action::kObserve) EXPECT_THAT(d.reason, HasSubstr("rate limit"));
  }
  EXPECT_EQ(updates, 3);
  // An hour later the window has room again.
  s.next(1e-4, ShiftState::kNone, -1, 3600);
  EXPECT_EQ(s.next(1e-4).action, Action::kAdapt);
  // A sustained shift under the limit waits too.
  o.max_updates = 1;
  Stream t(o);
  t.next(1e-4);
  t.next(1e-4);
  ASSERT_EQ(t.next(1e-4).action, Action::kAdapt);
  const auto held = t.next(1e-4, ShiftState::kSustained, 0);
  EXPECT_EQ(held.action, Action::kObserve);
  EXPECT_THAT(held.reason, HasSubstr("new context held back by the rate limit"));
}

TEST(DeviationPolicy, EscalatesStrongDeviationsOnceInItsCooldown) {
  DeviationPolicyOptions o;
  o.escalate_p = 1e-8;
  Stream s(o);
  s.normal_until(30);
  const auto d = s.next(1e-10);
  EXPECT_EQ(d.action, Action::kEscalate);
  EXPECT_THAT(d.reason, HasSubstr("escalate_p"));
  EXPECT_NE(s.next(1e-10).action, Action::kEscalate);  // within escalate_cooldown_events
  o.escalate_p = 0;
  o.escalate_on_sustained = true;
  Stream t(o);
  t.normal_until(30);
  EXPECT_EQ(t.next(1e-3, ShiftState::kSustained, 25).action, Action::kEscalate);
}

TEST(DeviationPolicy, RollsBackWhenTheNewContextAdapterHurts) {
  Stream s;
  s.normal_until(40);
  ASSERT_EQ(s.next(1e-4, ShiftState::kSustained, 35).action, Action::kNewContext);
  // The user is back to the old behaviour: the new adapter is worse by 0.3 nats.
  s.surprise_ = 3.3;
  s.surprise_previous_ = 3.0;
  EXPECT_EQ(s.next(0.5).action, Action::kIgnore);
  EXPECT_EQ(s.next(0.5).action, Action::kIgnore);
  const auto d = s.next(0.5);
  EXPECT_EQ(d.action, Action::kRollback);
  EXPECT_THAT(d.reason, HasSubstr("worse than the previous one by 0.3 nats over 3 events"));
  EXPECT_EQ(s.state_.probation_start, -1);
  EXPECT_EQ(s.next(0.5).action, Action::kIgnore);  // probation over: no second rollback
  // When the new adapter helps, no rollback; probation ends after rollback_window events.
  Stream t;
  t.normal_until(40);
  t.next(1e-4, ShiftState::kSustained, 35);
  t.surprise_ = 2.5;
  t.surprise_previous_ = 3.0;
  for (int i = 0; i < 40; ++i) EXPECT_NE(t.next(0.5).action, Action::kRollback);
  EXPECT_EQ(t.state_.probation_start, -1);
}

// After a new context the policy follows up: the adapter learns the new behaviour's events as
// they arrive (follow_up_updates of them, one every follow_up_every events, each from the
// shift's start), flagged or not; a rollback ends them.
TEST(DeviationPolicy, ANewContextIsFollowedUpOnTheEventsSinceTheShift) {
  Stream s;
  s.normal_until(40);
  ASSERT_EQ(s.next(1e-4, ShiftState::kSustained, 35).action, Action::kNewContext);  // event 40
  std::vector<std::int64_t> at;
  for (int i = 41; i < 80; ++i) {
    const auto d = s.next(i == 45 ? 1e-4 : 0.5);  // a flagged event does not stop a follow-up
    if (d.action == Action::kAdapt) {
      EXPECT_TRUE(d.follow_up);
      EXPECT_EQ(d.trigger_start, 35);
      EXPECT_DOUBLE_EQ(d.sample_weight, 1.0);
      EXPECT_THAT(d.reason, HasSubstr("follow-up " + std::to_string(at.size() + 1) +
                                      " of 3 of the new context since event 35"));
      at.push_back(i);
    } else {
      EXPECT_FALSE(d.follow_up);
    }
  }
  EXPECT_EQ(at, (std::vector<std::int64_t>{45, 50, 55}));
  EXPECT_EQ(s.state_.follow_ups_left, 0u);
  // Off with follow_up_updates 0; ended by a rollback.
  DeviationPolicyOptions none;
  none.follow_up_updates = 0;
  Stream t(none);
  t.normal_until(40);
  t.next(1e-4, ShiftState::kSustained, 35);
  for (int i = 41; i < 80; ++i) EXPECT_EQ(t.next(0.5).action, Action::kIgnore) << i;
  Stream r;
  r.normal_until(40);
  r.next(1e-4, ShiftState::kSustained, 35);
  r.surprise_ = 3.5;
  r.surprise_previous_ = 3.0;
  r.next(0.5);
  r.next(0.5);
  ASSERT_EQ(r.next(0.5).action, Action::kRollback);  // event 43
  r.surprise_.reset();
  r.surprise_previous_.reset();
  for (int i = 44; i < 80; ++i) EXPECT_EQ(r.next(0.5).action, Action::kIgnore) << i;
  // The follow-up state survives a restart (JSON round trip).
  Stream u;
  u.normal_until(40);
  u.next(1e-4, ShiftState::kSustained, 35);
  const auto back = nlohmann::json(u.state_).get<PolicyState>();
  EXPECT_EQ(back, u.state_);
  EXPECT_EQ(back.context_start, 35);
  EXPECT_EQ(back.follow_ups_left, 3u);
  Decision f{Action::kAdapt, 1.0, 35, "why", true};
  EXPECT_EQ(nlohmann::json(f).get<Decision>(), f);
}

TEST(DeviationPolicy, ColdStartAndConsolidation) {
  DeviationPolicyOptions o;
  o.consolidate_every = 10;
  Stream s(o);
  PolicyInput cold;
  cold.p_value = 1e-9;
  cold.cold_start = true;
  const auto [d, st] = s.policy_.decide(cold, {});
  EXPECT_EQ(d.action, Action::kIgnore);
  EXPECT_THAT(d.reason, HasSubstr("cold start"));
  s.normal_until(20);  // initial profile at event 19
  EXPECT_EQ(s.state_.last_update, 19);
  s.normal_until(29);
  const auto c = s.next(0.5);  // event 29: 10 events since 19
  EXPECT_EQ(c.action, Action::kAdapt);
  EXPECT_EQ(c.trigger_start, 20);
  EXPECT_THAT(c.reason, HasSubstr("consolidate"));
  EXPECT_TRUE(c.consolidation);
  EXPECT_FALSE(c.follow_up);
  EXPECT_EQ(nlohmann::json(c).get<Decision>(), c);
  EXPECT_EQ(nlohmann::json(c).at("consolidation"), true);
  // The profile is not a consolidation, and the flag is absent from its JSON.
  Stream p(o);
  p.normal_until(19);
  const auto profile = p.next(0.5);
  ASSERT_EQ(profile.action, Action::kAdapt);
  EXPECT_FALSE(profile.consolidation);
  EXPECT_FALSE(nlohmann::json(profile).contains("consolidation"));
}

TEST(DeviationPolicy, InputFromAnObservationAdjustsForSeveralDetectors) {
  Observation obs;
  obs.scores["zscore"].p_value = 0.004;
  obs.scores["mahalanobis"].p_value = 0.2;
  obs.shift.state = ShiftState::kNone;
  DeviationPolicy any;
  const auto in = any.input_from(obs, 7, timestamp_from_micros(0));
  EXPECT_DOUBLE_EQ(in.p_value, 0.008);
  EXPECT_EQ(in.detector, "zscore");
  EXPECT_EQ(in.event_index, 7);
  DeviationPolicyOptions o;
  o.detector = "mahalanobis";
  EXPECT_DOUBLE_EQ(DeviationPolicy(o).input_from(obs, 0, {}).p_value, 0.2);
  o.detector = "nope";
  EXPECT_THROW(DeviationPolicy(o).input_from(obs, 0, {}), ConfigError);
}

TEST(DeviationPolicy, OptionsAndStateRoundTripThroughJson) {
  nlohmann::json j = {{"alpha", 0.05}, {"cooldown_events", 2}};
  const auto o = j.get<DeviationPolicyOptions>();
  EXPECT_EQ(o.alpha, 0.05);
  EXPECT_EQ(o.cooldown_events, 2u);
  EXPECT_EQ(nlohmann::json(o).get<DeviationPolicyOptions>().alpha, 0.05);
  try {
    (void)nlohmann::json({{"alpha", 2.0}}).get<DeviationPolicyOptions>();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("policy.alpha must be in (0, 1), got 2"));
  }
  EXPECT_THROW((void)nlohmann::json({{"alhpa", 0.1}}).get<DeviationPolicyOptions>(), ConfigError);
  const auto f = nlohmann::json({{"follow_up_updates", 2}, {"follow_up_every", 7}})
                     .get<DeviationPolicyOptions>();
  EXPECT_EQ(f.follow_up_updates, 2u);
  EXPECT_EQ(f.follow_up_every, 7u);
  const auto back_f = nlohmann::json(f).get<DeviationPolicyOptions>();
  EXPECT_EQ(back_f.follow_up_updates, 2u);
  EXPECT_EQ(back_f.follow_up_every, 7u);
  try {
    (void)nlohmann::json({{"follow_up_every", 0}}).get<DeviationPolicyOptions>();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("policy.follow_up_every must be >= 1, got 0"));
  }
  Stream s;
  s.normal_until(25);
  s.next(1e-4);
  const auto back = nlohmann::json(s.state_).get<PolicyState>();
  EXPECT_EQ(back, s.state_);
  Decision d{Action::kNewContext, 1.0, 12, "why"};
  EXPECT_EQ(nlohmann::json(d).get<Decision>(), d);
  EXPECT_THROW((void)nlohmann::json({{"action", "panic"}}).get<Decision>(), ConfigError);
}

TEST(DeviationPolicy, IsPureTheSameInputAndStateGiveTheSameDecision) {
  Stream a, b;
  for (int i = 0; i < 60; ++i) {
    const double p = (i % 7 == 3 || i % 11 == 5) ? 1e-4 : 0.3;
    const auto s = i == 50 ? ShiftState::kSustained : ShiftState::kNone;
    EXPECT_EQ(a.next(p, s, 45), b.next(p, s, 45)) << i;
  }
  EXPECT_EQ(a.state_, b.state_);
}

}  // namespace
}  // namespace oap
