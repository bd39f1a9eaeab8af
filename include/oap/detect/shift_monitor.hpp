#pragma once
// ShiftMonitor: tells a lone outlier from a lasting change in a user's stream of scores.

#include <cstdint>
#include <deque>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace oap {

struct ShiftMonitorOptions {
  enum class Method { kCusum, kPageHinkley, kBoth };
  // "cusum" | "page_hinkley" | "both" (alarm when either does). Default: cusum.
  Method method = Method::kCusum;
  // Values that form the baseline (mean, sd) before judging, and again after a shift.
  // Requires >= 2. Default: 30.
  std::size_t warmup = 30;
  // CUSUM allowance k, in baseline sds. Requires >= 0. Default: 0.5.
  double k = 0.5;
  // CUSUM threshold h, in baseline sds. Requires > 0. Default: 8 (with k = 0.5 the in-control
  // run length is ~10^4 points even with a baseline estimated from few points; h = 5 gave
  // a false alarm every few hundred points in tests).
  double h = 8.0;
  // Page-Hinkley allowance delta and threshold lambda, in baseline sds. Default: 0.5, 8.
  double ph_delta = 0.5;
  double ph_lambda = 8.0;
  // Standardized values are clipped to [-clip, clip] before they enter CUSUM / Page-Hinkley,
  // so one point, however extreme, adds at most clip - k: with h > clip - k a lone outlier
  // can never raise the alarm by itself (two cannot either with the defaults). Requires > k.
  // Default: 4.
  double clip = 4.0;
  // |z| above this marks a point as an outlier (Transient unless it persists). Default: 3.
  double outlier_z = 3.0;
  // Detect decreases as well as increases. Default: true.
  bool two_sided = true;
  // Floor on the baseline sd (value units). Requires > 0. Default: 1e-9.
  double min_sd = 1e-9;
  // Most recent values kept to re-learn the baseline from a shift's start. Requires
  // >= warmup. Default: 256.
  std::size_t max_buffer = 256;

  void validate() const;
};
void to_json(nlohmann::json& j, const ShiftMonitorOptions& o);
void from_json(const nlohmann::json& j, ShiftMonitorOptions& o);

enum class ShiftState {
  kWarmup,     // still learning the baseline
  kNone,       // in line with the baseline
  kTransient,  // an outlier; not (yet) a lasting change
  kSustained,  // the level moved and stayed moved (CUSUM / Page-Hinkley alarm)
};
const char* shift_state_name(ShiftState s);  // "warmup", "none", "transient", "sustained"

// What the monitor says after one value.
struct ShiftReport {
  ShiftState state = ShiftState::kWarmup;
  // kTransient: the outlier's index; kSustained: the estimated first index of the shift (the
  // last time the alarming statistic was at zero, plus one). -1 otherwise. Indices count
  // observe() calls from 0.
  std::int64_t start = -1;
  double z = 0.0;  // the value standardized by the baseline
  double cusum_up = 0.0, cusum_down = 0.0;
  double ph_up = 0.0, ph_down = 0.0;
};
void to_json(nlohmann::json& j, const ShiftReport& r);

// Two-sided CUSUM and Page-Hinkley over a scalar stream (for one user; DetectorBank feeds the
// normal quantile normal_isf(p) of a detector's p-value, roughly N(0, 1) in control). A value
// beyond outlier_z is reported Transient and kept out of the baseline; when the clipped statistics
// cross their threshold the report is Sustained with the estimated start, and the baseline is
// re-learned from the values since that start, so the user's new behaviour becomes the new normal.
// Thread safety: const methods concurrent; observe() needs external synchronization.
class ShiftMonitor {
 public:
  explicit ShiftMonitor(ShiftMonitorOptions options = {});

  // Takes the next value (must be finite; InvalidArgument otherwise).
  ShiftReport observe(double value);
  std::uint64_t n_seen() const { return t_; }
  double baseline_mean() const { return mean_; }
  double baseline_sd() const;
  const ShiftMonitorOptions& options() const { return options_; }
  void reset();

  nlohmann::json save() const;
  void load(const nlohmann::json& state);

 private:
  void restart_baseline(std::int64_t from);
  void add_to_baseline(double v);

  ShiftMonitorOptions options_;
  std::uint64_t t_ = 0;
  double n_ = 0, mean_ = 0, m2_ = 0;  // baseline (Welford)
  double cu_ = 0, cd_ = 0;            // CUSUM statistics
  std::int64_t cu_start_ = 0, cd_start_ = 0;
  double pu_ = 0, pd_ = 0, pu_min_ = 0, pd_min_ = 0;  // Page-Hinkley cumulative sums, minima
  std::int64_t pu_start_ = 0, pd_start_ = 0;
  std::deque<double> recent_;  // last max_buffer values; recent_.back() has index t_ - 1
};

}  // namespace oap
