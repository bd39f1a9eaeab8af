// The personalization evaluation's metrics (per policy and stream), curves around the shift and
// the blip, and their aggregation over seeds into docs/evaluation.json's shape.

#include <algorithm>
#include <cmath>
#include <limits>

#include "personalization_eval_harness.hpp"

namespace oap::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Curves: events relative to the shift / the blip's first event.
constexpr int kShiftBefore = 10, kShiftAfter = 40;
constexpr int kBlipBefore = 5, kBlipAfter = 20;

// Mean of the finite values; NaN if none.
double mean(const std::vector<double>& v) {
  double s = 0.0;
  std::size_t n = 0;
  for (double x : v) {
    if (std::isfinite(x)) {
      s += x;
      ++n;
    }
  }
  return n ? s / static_cast<double>(n) : kNaN;
}

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

double at_or(const std::vector<double>& v, std::int64_t i, double before) {
  if (i < 0) return before;
  return i < static_cast<std::int64_t>(v.size()) ? v[static_cast<std::size_t>(i)] : kNaN;
}

// Events after the shift until probe_new <= threshold: 0 if the adapter before the shift already
// was; the count of new-behaviour events seen when it first was; censored (nullopt) if never.
std::optional<int> events_until(const UserRun& u, int shift, double threshold) {
  if (at_or(u.probe_new, shift - 1, u.probe_new_start) <= threshold) return 0;
  for (std::size_t i = static_cast<std::size_t>(shift); i < u.probe_new.size(); ++i) {
    if (u.probe_new[i] <= threshold) return static_cast<int>(i) - shift + 1;
  }
  return std::nullopt;
}

// A per-user curve of values v[anchor + r], r in [-before, after], each minus `minus`.
nlohmann::json aligned(const std::vector<double>& v, int anchor, int before, int after,
                       double start, double minus = 0.0) {
  nlohmann::json out = nlohmann::json::array();
  for (int r = -before; r <= after; ++r) out.push_back(number(at_or(v, anchor + r, start) - minus));
  return out;
}

}  // namespace

nlohmann::json stream_metrics(const PolicyRun& run, const Stream& stream,
                              const std::map<UserId, Reference>& references,
                              const HarnessOptions& options) {
  std::vector<double> all_nll, delays, delays_big, delays_subtle, delays_half, delays_literal;
  std::vector<double> reached, reached_half;
  std::vector<double> damages, damages_prequential, nll_after_shift, nll_before_shift;
  std::map<std::string, std::vector<double>> nll_by_kind;
  int steps = 0, updates = 0, accepted = 0, false_updates = 0, false_alarms = 0;
  int stable_flagged = 0, flagged = 0, stable_events = 0;
  for (const auto& [user, u] : run.users) {
    const auto& truth = stream.users.at(user);
    for (double x : u.nll) {
      all_nll.push_back(x);
      nll_by_kind[truth.kind].push_back(x);
    }
    for (std::size_t k = 0; k < u.update_events.size(); ++k) {
      steps += u.update_steps[k];
      ++updates;
      accepted += u.update_accepted[k] ? 1 : 0;
      if (truth.is_stable()) {
        false_updates += k > 0 ? 1 : 0;  // beyond the user's first (profile) update
        false_alarms += u.update_reactive[k] ? 1 : 0;
      }
    }
    flagged += u.flagged;
    if (truth.is_stable()) {
      stable_flagged += u.flagged;
      stable_events += static_cast<int>(u.nll.size());
    }
    if (truth.is_shift()) {
      const int s = *truth.shift_event;
      const auto& ref = references.at(user);
      const int seen_after = static_cast<int>(u.probe_new.size()) - s;
      // Recovered: the adapter has (1 - tol) of the improvement the reference adapter makes
      // over the base model on the new behaviour. Censored delays count as every
      // new-behaviour event the stream had.
      auto delay_at = [&](double threshold, std::vector<double>* share) {
        const auto d = events_until(u, s, threshold);
        if (share) share->push_back(d ? 1.0 : 0.0);
        return d ? static_cast<double>(*d) : static_cast<double>(seen_after);
      };
      const double gap = ref.base_nll - ref.nll;
      const double delay = delay_at(ref.nll + options.delay_tolerance * gap, &reached);
      delays.push_back(delay);
      (truth.kind == "shift_big" ? delays_big : delays_subtle).push_back(delay);
      delays_half.push_back(delay_at(ref.nll + 0.5 * gap, &reached_half));
      // The words read literally: within 10% of the reference's NLL itself.
      delays_literal.push_back(delay_at(ref.nll * (1.0 + options.delay_tolerance), nullptr));
      std::vector<double> pre(u.nll.begin(), u.nll.begin() + s);
      std::vector<double> post(u.nll.begin() + s, u.nll.end());
      nll_before_shift.push_back(mean(pre));
      nll_after_shift.push_back(mean(post));
    }
    if (truth.is_blip()) {
      const int b0 = truth.blip_events.front(), b1 = truth.blip_events.back();
      const double before = at_or(u.probe_normal, b0 - 1, u.probe_normal_start);
      double worst = -std::numeric_limits<double>::infinity();
      const int end = std::min<int>(static_cast<int>(u.probe_normal.size()) - 1,
                                    b1 + static_cast<int>(options.blip_horizon));
      for (int i = b1; i <= end; ++i) worst = std::max(worst, u.probe_normal[i]);
      damages.push_back(worst - before);
      // Prequential: the normal events' NLL after the blip minus before it.
      std::vector<double> pre, post;
      const int h = static_cast<int>(options.blip_horizon);
      for (int i = std::max(0, b0 - h); i < b0; ++i) pre.push_back(u.nll[i]);
      for (int i = b1 + 1; i <= end; ++i) post.push_back(u.nll[i]);
      damages_prequential.push_back(mean(post) - mean(pre));
    }
  }
  nlohmann::json by_kind = nlohmann::json::object();
  for (const auto& [kind, v] : nll_by_kind) by_kind[kind] = number(mean(v));
  return {
      {"adaptation_delay", number(mean(delays))},
      {"blip_damage", number(mean(damages))},
      {"false_updates", false_updates},
      {"update_steps", steps},
      {"mean_nll", number(mean(all_nll))},
      {"extra",
       {{"adaptation_delay_big", number(mean(delays_big))},
        {"adaptation_delay_subtle", number(mean(delays_subtle))},
        {"adaptation_delay_half", number(mean(delays_half))},
        {"adaptation_delay_literal", number(mean(delays_literal))},
        {"recovered_share", number(mean(reached))},
        {"recovered_share_half", number(mean(reached_half))},
        {"blip_damage_prequential", number(mean(damages_prequential))},
        {"false_alarms", false_alarms},
        {"stable_flagged_share",
         number(stable_events ? double(stable_flagged) / stable_events : kNaN)},
        {"flagged", flagged},
        {"updates", updates},
        {"updates_accepted", accepted},
        {"nll_before_shift", number(mean(nll_before_shift))},
        {"nll_after_shift", number(mean(nll_after_shift))},
        {"wall_seconds", run.seconds}}},
      {"mean_nll_by_kind", by_kind},
  };
}

nlohmann::json stream_curves(const PolicyRun& run, const Stream& stream,
                             const std::map<UserId, Reference>& references) {
  nlohmann::json shift_nll = nlohmann::json::array(), shift_probe = nlohmann::json::array();
  nlohmann::json shift_kind = nlohmann::json::array();
  nlohmann::json blip_nll = nlohmann::json::array(), blip_probe = nlohmann::json::array();
  for (const auto& [user, u] : run.users) {
    const auto& truth = stream.users.at(user);
    if (truth.is_shift()) {
      const int s = *truth.shift_event;
      shift_nll.push_back(aligned(u.nll, s, kShiftBefore, kShiftAfter, kNaN));
      // Excess over the reference adapter's level on the new behaviour.
      shift_probe.push_back(aligned(u.probe_new, s, kShiftBefore, kShiftAfter, u.probe_new_start,
                                    references.at(user).nll));
      shift_kind.push_back(truth.kind);
    }
    if (truth.is_blip()) {
      const int b0 = truth.blip_events.front();
      const double before = at_or(u.probe_normal, b0 - 1, u.probe_normal_start);
      blip_nll.push_back(aligned(u.nll, b0, kBlipBefore, kBlipAfter, kNaN));
      blip_probe.push_back(
          aligned(u.probe_normal, b0, kBlipBefore, kBlipAfter, u.probe_normal_start, before));
    }
  }
  return {
      {"shift",
       {{"from", -kShiftBefore},
        {"kind", shift_kind},
        {"nll", shift_nll},
        {"probe_new_excess", shift_probe}}},
      {"blip", {{"from", -kBlipBefore}, {"nll", blip_nll}, {"probe_normal_change", blip_probe}}}};
}

namespace {

// Position-wise mean of per-user curves (JSON arrays of numbers or nulls); users filtered by
// keep(i).
template <typename Keep>
nlohmann::json mean_curve(const std::vector<const nlohmann::json*>& curves, Keep keep) {
  std::vector<double> sum;
  std::vector<int> count;
  for (std::size_t i = 0; i < curves.size(); ++i) {
    if (!keep(i)) continue;
    const auto& c = *curves[i];
    sum.resize(std::max(sum.size(), c.size()), 0.0);
    count.resize(sum.size(), 0);
    for (std::size_t r = 0; r < c.size(); ++r) {
      if (c[r].is_number()) {
        sum[r] += c[r].get<double>();
        ++count[r];
      }
    }
  }
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t r = 0; r < sum.size(); ++r)
    out.push_back(number(count[r] ? sum[r] / count[r] : kNaN));
  return out;
}

nlohmann::json spread(const std::vector<double>& v) {
  const double m = mean(v);
  double ss = 0.0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
  std::size_t n = 0;
  nlohmann::json per_seed = nlohmann::json::array();
  for (double x : v) {
    per_seed.push_back(number(x));
    if (!std::isfinite(x)) continue;
    ss += (x - m) * (x - m);
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    ++n;
  }
  return {{"mean", number(m)},
          {"std", number(n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : kNaN)},
          {"min", number(n ? lo : kNaN)},
          {"max", number(n ? hi : kNaN)},
          {"per_seed", per_seed}};
}

double as_double(const nlohmann::json& j) { return j.is_number() ? j.get<double>() : kNaN; }

}  // namespace

nlohmann::json aggregate(const std::vector<nlohmann::json>& per_stream,
                         const std::vector<nlohmann::json>& curves, const std::string& model,
                         std::span<const Policy> ran) {
  static const char* kHeadline[] = {"adaptation_delay", "blip_damage", "false_updates",
                                    "update_steps", "mean_nll"};
  nlohmann::json policies = nlohmann::json::object();
  for (Policy p : ran) {
    const std::string name = policy_name(p);
    nlohmann::json out = nlohmann::json::object();
    nlohmann::json spreads = nlohmann::json::object();
    for (const char* key : kHeadline) {
      std::vector<double> v;
      for (const auto& s : per_stream) v.push_back(as_double(s.at(name).at(key)));
      spreads[key] = spread(v);
      out[key] = spreads[key].at("mean");
    }
    out["spread"] = spreads;
    nlohmann::json extra = nlohmann::json::object();
    for (const auto& [key, first] : per_stream.front().at(name).at("extra").items()) {
      std::vector<double> v;
      for (const auto& s : per_stream) v.push_back(as_double(s.at(name).at("extra").at(key)));
      extra[key] = spread(v);
    }
    out["extra"] = extra;
    nlohmann::json by_kind = nlohmann::json::object();
    for (const auto& [kind, first] : per_stream.front().at(name).at("mean_nll_by_kind").items()) {
      std::vector<double> v;
      for (const auto& s : per_stream) {
        const auto& k = s.at(name).at("mean_nll_by_kind");
        v.push_back(k.contains(kind) ? as_double(k.at(kind)) : kNaN);
      }
      by_kind[kind] = number(mean(v));
    }
    out["mean_nll_by_kind"] = by_kind;
    policies[name] = out;
  }
  // Curves: every user of every stream, averaged position by position.
  nlohmann::json curve_out = nlohmann::json::object();
  for (Policy p : ran) {
    const std::string name = policy_name(p);
    std::vector<const nlohmann::json*> nll, probe, bnll, bprobe;
    std::vector<std::string> kind;
    for (const auto& c : curves) {
      const auto& pc = c.at(name);
      for (const auto& x : pc.at("shift").at("nll")) nll.push_back(&x);
      for (const auto& x : pc.at("shift").at("probe_new_excess")) probe.push_back(&x);
      for (const auto& x : pc.at("shift").at("kind")) kind.push_back(x.get<std::string>());
      for (const auto& x : pc.at("blip").at("nll")) bnll.push_back(&x);
      for (const auto& x : pc.at("blip").at("probe_normal_change")) bprobe.push_back(&x);
    }
    auto all = [](std::size_t) { return true; };
    auto of_kind = [&](const char* k) {
      return [&kind, k](std::size_t i) { return kind[i] == k; };
    };
    curve_out[name] = {{"shift",
                        {{"from", -kShiftBefore},
                         {"users", nll.size()},
                         {"nll", mean_curve(nll, all)},
                         {"nll_big", mean_curve(nll, of_kind("shift_big"))},
                         {"nll_subtle", mean_curve(nll, of_kind("shift_subtle"))},
                         {"probe_new_excess", mean_curve(probe, all)},
                         {"probe_new_excess_big", mean_curve(probe, of_kind("shift_big"))},
                         {"probe_new_excess_subtle", mean_curve(probe, of_kind("shift_subtle"))}}},
                       {"blip",
                        {{"from", -kBlipBefore},
                         {"users", bnll.size()},
                         {"nll", mean_curve(bnll, all)},
                         {"probe_normal_change", mean_curve(bprobe, all)}}}};
  }
  return {{"policies", policies},
          {"seeds", per_stream.size()},
          {"model", model},
          {"curves", curve_out}};
}

}  // namespace oap::eval
