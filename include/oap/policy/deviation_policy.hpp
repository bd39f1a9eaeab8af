#pragma once
// DeviationPolicy: from a user's detector results, shift state and recent decisions to a
// Decision (ignore, observe, adapt, new context, escalate, rollback).

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <utility>

#include "oap/core/timestamp.hpp"
#include "oap/detect/detector_bank.hpp"
#include "oap/policy/decision.hpp"
#include "oap/policy/policy_state.hpp"

namespace oap {

// Settings of DeviationPolicy. Plain value type; JSON section "policy". Every "events" count is
// in the user's own events.
struct DeviationPolicyOptions {
  // The detector whose p-value is the deviation; "" = the smallest p-value over all the bank's
  // detectors, Bonferroni-adjusted (times their number, capped at 1). Default: "".
  std::string detector;
  // p-value below which an event deviates. Default: 0.01. Requires (0, 1).
  double alpha = 0.01;
  // Sample weights: a deviation at p = alpha weighs min_weight, one at p <= full_weight_p
  // weighs 1, log-linear in p between. Defaults: 0.25, 1e-6. min_weight in [0, 1];
  // full_weight_p in (0, alpha).
  double min_weight = 0.25;
  double full_weight_p = 1e-6;
  // kAdapt needs at least adapt_min_flagged flagged events among the last adapt_window (this
  // one included): a blip is observed, not learned. Defaults: 3 of 6 (on the evaluation's
  // tuning streams, 2 of 6 learned from blips of 2-3 events: 14x the damage on the user's normal
  // text, docs/evaluation.md "Tuning"). Requires 1 <= adapt_min_flagged <= adapt_window.
  std::size_t adapt_window = 6;
  std::size_t adapt_min_flagged = 3;
  // A sustained shift (the shift monitor's alarm) gives kNewContext. Default: true.
  bool new_context_on_sustained = true;
  // The first update: kAdapt on the user's history once it has this many events (the user's
  // profile); 0 = none. Default: 20.
  std::size_t initial_adapt_after = 20;
  // Consolidation: kAdapt (Decision::consolidation) on the user's events since the last update,
  // every this many events; the events the policy only observed (unconfirmed deviations) are
  // left out of it. 0 = never. Default: 0.
  std::size_t consolidate_every = 0;
  // Follow-ups of a new context: after a kNewContext, up to follow_up_updates more kAdapt
  // (Decision::follow_up), one every follow_up_every events, each on the user's events since
  // the shift's start, so the adapter keeps up while the new behaviour's events arrive (the
  // new context itself had only the few events that confirmed the shift). A rollback ends
  // them. 0 updates = none. Defaults: 3 every 5 events. follow_up_every requires >= 1.
  std::size_t follow_up_updates = 3;
  std::size_t follow_up_every = 5;
  // After any update, kAdapt is held back (kObserve) for this many events. A sustained shift
  // (kNewContext) is not. Default: 5.
  std::size_t cooldown_events = 5;
  // At most max_updates updates (adapt, new context, rollback) per rate_window_seconds of event
  // time; beyond, kObserve with the reason. 0 = unlimited. Defaults: 10 per 3600 s.
  std::size_t max_updates = 10;
  double rate_window_seconds = 3600.0;
  // kEscalate when p < escalate_p (0 disables), and on a sustained shift if
  // escalate_on_sustained; at most one escalation per escalate_cooldown_events.
  // Defaults: 0 (off), false, 20.
  double escalate_p = 0.0;
  bool escalate_on_sustained = false;
  std::size_t escalate_cooldown_events = 20;
  // Rollback: for rollback_window events after a kNewContext the caller passes the text's
  // surprise under the current and the previous adapter; when, after at least
  // rollback_min_events of them, the current adapter is worse by more than rollback_margin
  // nats on average, kRollback. 0 = never. Defaults: 30, 3, 0.1.
  std::size_t rollback_window = 30;
  std::size_t rollback_min_events = 3;
  double rollback_margin = 0.1;

  // Throws ConfigError naming the field.
  void validate() const;
};

void to_json(nlohmann::json& j, const DeviationPolicyOptions& o);
// Reads the fields present (others keep their defaults); unknown keys are an error.
void from_json(const nlohmann::json& j, DeviationPolicyOptions& o);

// What the policy looks at for one event of one user.
struct PolicyInput {
  std::int64_t event_index = 0;  // the user's 0-based event index
  Timestamp time{};              // the event's time (rate limits are in event time)
  bool cold_start = false;       // the detectors had too little of the user's history
  double p_value = 1.0;          // the deviation's p-value (see DeviationPolicyOptions::detector)
  std::string detector;          // the detector it came from
  ShiftReport shift;             // the user's shift monitor after this event
  // The event text's mean NLL under the user's current adapter, and (during probation) under
  // the version before the last new context; absent without text or model.
  std::optional<double> surprise;
  std::optional<double> surprise_previous;
};

// A pure function of (input, state, options) to (decision, next state): the same inputs always
// give the same decision, so decisions can be replayed, audited and tested in isolation. Rules,
// in order (the first that applies decides):
//   1. rollback: in probation, the current adapter is worse than the previous one;
//   2. escalate: p < escalate_p, or a sustained shift with escalate_on_sustained (with its
//      cooldown);
//   3. new context: a sustained shift (rate limit applies, cooldown does not);
//   4. adapt: a follow-up of the last new context that is due (rate limit applies);
//   5. adapt: flagged (p < alpha) with enough flagged events in the recent window (cooldown and
//      rate limit apply; otherwise observe);
//   6. observe: flagged, not enough yet (or the user's detectors are still cold);
//   7. adapt: the initial profile, or consolidation (cooldown and rate limit apply);
//   8. ignore.
// Thread safety: const and stateless: safe concurrently. Ownership: plain values in and out.
class DeviationPolicy {
 public:
  explicit DeviationPolicy(DeviationPolicyOptions options = {});

  std::pair<Decision, PolicyState> decide(const PolicyInput& input,
                                          const PolicyState& state) const;

  // The input for an event from the DetectorBank's observation (p-value per options.detector).
  PolicyInput input_from(const Observation& observation, std::int64_t event_index,
                         Timestamp time) const;

  // The weight of a deviation with this p-value (min_weight at alpha, 1 at full_weight_p).
  double weight_for(double p_value) const;

  const DeviationPolicyOptions& options() const { return options_; }

 private:
  DeviationPolicyOptions options_;
};

}  // namespace oap
