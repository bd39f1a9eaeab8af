#include "oap/policy/deviation_policy.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "oap/core/json_config.hpp"

namespace oap {
namespace {

std::string num(double v) {
  std::ostringstream s;
  s.precision(3);
  s << v;
  return s.str();
}

}  // namespace

void DeviationPolicyOptions::validate() const {
  const std::string p = "policy.";
  OAP_CHECK(alpha > 0 && alpha < 1, ConfigError, p + "alpha must be in (0, 1), got " + num(alpha));
  OAP_CHECK(min_weight >= 0 && min_weight <= 1, ConfigError,
            p + "min_weight must be in [0, 1], got " + num(min_weight));
  OAP_CHECK(full_weight_p > 0 && full_weight_p < alpha, ConfigError,
            p + "full_weight_p must be in (0, alpha = " + num(alpha) + "), got " +
                num(full_weight_p));
  OAP_CHECK(adapt_window >= 1, ConfigError, p + "adapt_window must be >= 1, got 0");
  OAP_CHECK(adapt_min_flagged >= 1 && adapt_min_flagged <= adapt_window, ConfigError,
            p + "adapt_min_flagged must be in [1, adapt_window = " + std::to_string(adapt_window) +
                "], got " + std::to_string(adapt_min_flagged));
  OAP_CHECK(follow_up_every >= 1, ConfigError, p + "follow_up_every must be >= 1, got 0");
  OAP_CHECK(std::isfinite(rate_window_seconds) && rate_window_seconds > 0, ConfigError,
            p + "rate_window_seconds must be > 0, got " + num(rate_window_seconds));
  OAP_CHECK(escalate_p >= 0 && escalate_p < 1, ConfigError,
            p + "escalate_p must be in [0, 1), got " + num(escalate_p));
  OAP_CHECK(std::isfinite(rollback_margin) && rollback_margin >= 0, ConfigError,
            p + "rollback_margin must be >= 0, got " + num(rollback_margin));
  OAP_CHECK(rollback_window == 0 || rollback_min_events >= 1, ConfigError,
            p + "rollback_min_events must be >= 1 when rollback_window > 0");
}

void to_json(nlohmann::json& j, const DeviationPolicyOptions& o) {
  j = {{"detector", o.detector},
       {"alpha", o.alpha},
       {"min_weight", o.min_weight},
       {"full_weight_p", o.full_weight_p},
       {"adapt_window", o.adapt_window},
       {"adapt_min_flagged", o.adapt_min_flagged},
       {"new_context_on_sustained", o.new_context_on_sustained},
       {"initial_adapt_after", o.initial_adapt_after},
       {"consolidate_every", o.consolidate_every},
       {"follow_up_updates", o.follow_up_updates},
       {"follow_up_every", o.follow_up_every},
       {"cooldown_events", o.cooldown_events},
       {"max_updates", o.max_updates},
       {"rate_window_seconds", o.rate_window_seconds},
       {"escalate_p", o.escalate_p},
       {"escalate_on_sustained", o.escalate_on_sustained},
       {"escalate_cooldown_events", o.escalate_cooldown_events},
       {"rollback_window", o.rollback_window},
       {"rollback_min_events", o.rollback_min_events},
       {"rollback_margin", o.rollback_margin}};
}

void from_json(const nlohmann::json& j, DeviationPolicyOptions& o) {
  JsonObjectReader r(j, "policy");
  o.detector = r.get<std::string>("detector", o.detector);
  o.alpha = r.get<double>("alpha", o.alpha);
  o.min_weight = r.get<double>("min_weight", o.min_weight);
  o.full_weight_p = r.get<double>("full_weight_p", o.full_weight_p);
  o.adapt_window = r.get<std::size_t>("adapt_window", o.adapt_window);
  o.adapt_min_flagged = r.get<std::size_t>("adapt_min_flagged", o.adapt_min_flagged);
  o.new_context_on_sustained = r.get<bool>("new_context_on_sustained", o.new_context_on_sustained);
  o.initial_adapt_after = r.get<std::size_t>("initial_adapt_after", o.initial_adapt_after);
  o.consolidate_every = r.get<std::size_t>("consolidate_every", o.consolidate_every);
  o.follow_up_updates = r.get<std::size_t>("follow_up_updates", o.follow_up_updates);
  o.follow_up_every = r.get<std::size_t>("follow_up_every", o.follow_up_every);
  o.cooldown_events = r.get<std::size_t>("cooldown_events", o.cooldown_events);
  o.max_updates = r.get<std::size_t>("max_updates", o.max_updates);
  o.rate_window_seconds = r.get<double>("rate_window_seconds", o.rate_window_seconds);
  o.escalate_p = r.get<double>("escalate_p", o.escalate_p);
  o.escalate_on_sustained = r.get<bool>("escalate_on_sustained", o.escalate_on_sustained);
  o.escalate_cooldown_events =
      r.get<std::size_t>("escalate_cooldown_events", o.escalate_cooldown_events);
  o.rollback_window = r.get<std::size_t>("rollback_window", o.rollback_window);
  o.rollback_min_events = r.get<std::size_t>("rollback_min_events", o.rollback_min_events);
  o.rollback_margin = r.get<double>("rollback_margin", o.rollback_margin);
  r.finish();
  o.validate();
}

DeviationPolicy::DeviationPolicy(DeviationPolicyOptions options) : options_(std::move(options)) {
  options_.validate();
}

double DeviationPolicy::weight_for(double p_value) const {
  const auto& o = options_;
  if (!(p_value < o.alpha)) return o.min_weight;
  if (p_value <= o.full_weight_p) return 1.0;
  const double t = std::log(o.alpha / p_value) / std::log(o.alpha / o.full_weight_p);
  return o.min_weight + (1.0 - o.min_weight) * t;
}

PolicyInput DeviationPolicy::input_from(const Observation& observation, std::int64_t event_index,
                                        Timestamp time) const {
  PolicyInput in;
  in.event_index = event_index;
  in.time = time;
  in.cold_start = observation.cold_start;
  in.shift = observation.shift;
  if (!options_.detector.empty()) {
    const auto it = observation.scores.find(options_.detector);
    OAP_CHECK(it != observation.scores.end(), ConfigError,
              "policy.detector \"" + options_.detector + "\" is not one of the bank's detectors");
    in.p_value = it->second.p_value;
    in.detector = it->first;
    return in;
  }
  for (const auto& [name, score] : observation.scores) {
    if (in.detector.empty() || score.p_value < in.p_value) {
      in.p_value = score.p_value;
      in.detector = name;
    }
  }
  in.p_value = std::min(1.0, in.p_value * static_cast<double>(observation.scores.size()));
  return in;
}

std::pair<Decision, PolicyState> DeviationPolicy::decide(const PolicyInput& in,
                                                         const PolicyState& state) const {
  const auto& o = options_;
  PolicyState s = state;
  const std::int64_t idx = in.event_index;
  const std::int64_t now = to_micros(in.time);
  const bool flagged = !in.cold_start && in.p_value < o.alpha;
  const bool sustained = in.shift.state == ShiftState::kSustained;
  ++s.events;

  s.recent_flags.push_back(flagged ? 1 : 0);
  while (s.recent_flags.size() > o.adapt_window) s.recent_flags.pop_front();
  s.run_start = -1;
  for (std::size_t i = 0; i < s.recent_flags.size(); ++i) {
    if (s.recent_flags[i] != 0) {
      s.run_start = idx - static_cast<std::int64_t>(s.recent_flags.size() - 1 - i);
      break;
    }
  }
  const auto window_us = static_cast<std::int64_t>(o.rate_window_seconds * 1e6);
  while (!s.update_times.empty() && s.update_times.front() <= now - window_us) {
    s.update_times.pop_front();
  }
  const bool rate_ok = o.max_updates == 0 || s.update_times.size() < o.max_updates;
  const bool cooldown_ok =
      s.last_update < 0 || idx - s.last_update > static_cast<std::int64_t>(o.cooldown_events);
  const std::string p_text = "p = " + num(in.p_value) +
                             (in.detector.empty() ? std::string() : " (" + in.detector + ")");
  const std::string rate_text = "rate limit: " + std::to_string(s.update_times.size()) +
                                " updates in the last " + num(o.rate_window_seconds) + " s";

  Decision d;
  auto update = [&](Action a, double weight, std::int64_t trigger_start, std::string reason) {
    d.action = a;
    d.sample_weight = weight;
    d.trigger_start = trigger_start;
    d.reason = std::move(reason);
    s.last_update = idx;
    s.update_times.push_back(now);
  };
  auto end_probation = [&] {
    s.probation_start = s.probation_end = -1;
    s.probation_excess = 0;
    s.probation_count = 0;
  };

  // 1. Rollback: in probation, the shift-time adapter is worse than the one before it.
  const bool in_probation = s.probation_start >= 0 && idx < s.probation_end;
  if (s.probation_start >= 0 && !in_probation) end_probation();
  if (in_probation && in.surprise && in.surprise_previous) {
    s.probation_excess += *in.surprise - *in.surprise_previous;
    ++s.probation_count;
    const double mean_excess = s.probation_excess / s.probation_count;
    if (s.probation_count >= o.rollback_min_events && mean_excess > o.rollback_margin) {
      const std::string why = "the adapter of the new context is worse than the previous one by " +
                              num(mean_excess) + " nats over " +
                              std::to_string(s.probation_count) + " events (margin " +
                              num(o.rollback_margin) + ")";
      if (rate_ok) {
        end_probation();
        s.context_start = -1;
        s.follow_ups_left = 0;
        update(Action::kRollback, 0.0, -1, "rollback: " + why);
        return {d, s};
      }
      d.action = Action::kObserve;
      d.reason = "rollback held back by the " + rate_text + "; " + why;
      return {d, s};
    }
  }

  // 2. Escalate.
  const bool escalate_cooldown_ok =
      s.last_escalation < 0 ||
      idx - s.last_escalation > static_cast<std::int64_t>(o.escalate_cooldown_events);
  const bool strong = o.escalate_p > 0 && !in.cold_start && in.p_value < o.escalate_p;
  if ((strong || (o.escalate_on_sustained && sustained)) && escalate_cooldown_ok) {
    s.last_escalation = idx;
    d.action = Action::kEscalate;
    d.sample_weight = weight_for(in.p_value);
    d.reason = strong ? "escalate: " + p_text + " < escalate_p " + num(o.escalate_p)
                      : "escalate: sustained shift since event " + std::to_string(in.shift.start);
    return {d, s};
  }

  // 3. New context.
  if (sustained && o.new_context_on_sustained) {
    const std::int64_t start = in.shift.start >= 0 ? in.shift.start : idx;
    const std::string why = "sustained shift since event " + std::to_string(start) + " (" +
                            p_text + ", shift z " + num(in.shift.z) + ")";
    if (!rate_ok) {
      d.action = Action::kObserve;
      d.reason = "new context held back by the " + rate_text + "; " + why;
      return {d, s};
    }
    update(Action::kNewContext, 1.0, start, "new context: " + why);
    s.recent_flags.clear();
    s.run_start = -1;
    s.context_start = start;
    s.follow_ups_left = static_cast<std::uint32_t>(o.follow_up_updates);
    if (o.rollback_window > 0) {
      s.probation_start = idx;
      s.probation_end = idx + 1 + static_cast<std::int64_t>(o.rollback_window);
      s.probation_excess = 0;
      s.probation_count = 0;
    }
    return {d, s};
  }

  // 4. A follow-up of the last new context, on the events since its shift.
  const auto follow_up_every = static_cast<std::int64_t>(o.follow_up_every);
  if (s.follow_ups_left > 0 && idx - s.last_update >= follow_up_every && rate_ok) {
    const auto k = o.follow_up_updates - s.follow_ups_left + 1;
    update(Action::kAdapt, 1.0, s.context_start,
           "adapt: follow-up " + std::to_string(k) + " of " + std::to_string(o.follow_up_updates) +
               " of the new context since event " + std::to_string(s.context_start) + " (" +
               std::to_string(idx - s.context_start + 1) + " events)");
    d.follow_up = true;
    --s.follow_ups_left;
    return {d, s};
  }

  // 5-6. A deviation: adapt once it repeats, else observe.
  if (flagged) {
    const auto n = static_cast<std::size_t>(
        std::count(s.recent_flags.begin(), s.recent_flags.end(), std::uint8_t{1}));
    const std::string count_text = std::to_string(n) + " of the last " +
                                   std::to_string(s.recent_flags.size()) + " events flagged";
    d.action = Action::kObserve;
    if (n < o.adapt_min_flagged) {
      d.reason = "deviation (" + p_text + ", " + count_text + "): watching, not learned";
    } else if (!cooldown_ok) {
      const auto since = idx - s.last_update;
      d.reason = "deviation (" + p_text + ", " + count_text + ") in cooldown: " +
                 std::to_string(since) + (since == 1 ? " event" : " events") +
                 " since the update at event " + std::to_string(s.last_update);
    } else if (!rate_ok) {
      d.reason = "deviation (" + p_text + ", " + count_text + ") held back by the " + rate_text;
    } else {
      update(Action::kAdapt, weight_for(in.p_value), s.run_start,
             "adapt: repeated deviation (" + p_text + ", " + count_text + ")");
    }
    return {d, s};
  }

  // 7. The user's profile: first update, then optional consolidation.
  if (o.initial_adapt_after > 0 && s.last_update < 0 &&
      idx + 1 >= static_cast<std::int64_t>(o.initial_adapt_after)) {
    if (rate_ok) {
      update(Action::kAdapt, 1.0, 0,
             "adapt: initial profile from the first " + std::to_string(idx + 1) + " events");
      return {d, s};
    }
  }
  if (o.consolidate_every > 0 && s.last_update >= 0 &&
      idx - s.last_update >= static_cast<std::int64_t>(o.consolidate_every) && cooldown_ok &&
      rate_ok) {
    update(Action::kAdapt, 1.0, s.last_update + 1,
           "adapt: consolidate the " + std::to_string(idx - s.last_update) +
               " events since the last update");
    d.consolidation = true;
    return {d, s};
  }

  // 8. Nothing to do.
  d.action = Action::kIgnore;
  d.reason = in.cold_start ? "cold start: too little history to judge" : "normal (" + p_text + ")";
  return {d, s};
}

}  // namespace oap
