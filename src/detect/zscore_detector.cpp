#include "oap/detect/zscore_detector.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>

#include "detect/simd.hpp"
#include "detect/state_header.hpp"
#include "oap/core/json_config.hpp"
#include "oap/detect/distributions.hpp"

namespace oap {
namespace {

// Caps |z| so that z^2 and sums of it stay finite even for absurd deviations.
constexpr double kMaxAbsZ = 1e100;

const char* mode_name(ZScoreOptions::Mode m) {
  return m == ZScoreOptions::Mode::kWelford ? "welford" : "ewma";
}
const char* combine_name(ZScoreOptions::Combine c) {
  return c == ZScoreOptions::Combine::kMax ? "max" : "sum_squares";
}

// Median of v (modified in place).
double median_of(std::vector<double>& v) {
  std::size_t n = v.size(), mid = n / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  double hi = v[mid];
  if (n % 2 == 1) return hi;
  double lo = *std::max_element(v.begin(), v.begin() + mid);
  return lo + (hi - lo) / 2;
}

// Four doubles as one GCC/Clang vector: the default clone runs it as two SSE2 halves, the AVX2
// clone as one instruction. Every lane sees the same operations in the same order, so all clones
// give bit-identical results.
using V4 = double __attribute__((vector_size(32)));
using V4Mask = std::int64_t __attribute__((vector_size(32)));

// Unaligned loads and stores; by reference, since passing V4 by value differs between the
// clones' ABIs.
inline void load4(V4& v, const double* p) { std::memcpy(&v, p, sizeof v); }
inline void store4(double* p, const V4& v) { std::memcpy(p, &v, sizeof v); }

// z[i] = clamp(((x[i] - offset[i]) - center[i]) * inv_scale[i], -kMaxAbsZ, kMaxAbsZ); returns
// max |z| (max combine) or sum z^2 (sum_squares) over the features, with NaN z left out.
// (x - offset) - center keeps the precision of small deviations around a large offset. The
// reduction runs in 4 fixed lanes combined in a fixed order. Also checks, branch-free, that x
// is finite: *finite is false if any x[i] is inf or NaN (z is then meaningless).
template <bool kSumSquares>
[[gnu::always_inline]] inline double standardize(const double* x, const double* offset,
                                                 const double* center, const double* inv_scale,
                                                 double* z, std::size_t n, bool* finite) {
  const V4 hi = {kMaxAbsZ, kMaxAbsZ, kMaxAbsZ, kMaxAbsZ};
  const V4 lo = -hi;
  V4 acc = {0.0, 0.0, 0.0, 0.0};
  V4Mask bad = {0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    V4 xv, off, mid, inv;
    load4(xv, x + i);
    load4(off, offset + i);
    load4(mid, center + i);
    load4(inv, inv_scale + i);
    V4 zv = ((xv - off) - mid) * inv;
    zv = zv < lo ? lo : zv;  // NaN stays NaN
    zv = zv > hi ? hi : zv;
    store4(z + i, zv);
    bad |= (xv - xv) != 0.0;  // inf - inf and NaN - NaN are NaN
    if constexpr (kSumSquares) {
      const V4 sq = zv * zv;
      acc = sq == sq ? acc + sq : acc;
    } else {
      const V4 az = zv < 0.0 ? -zv : zv;
      acc = az > acc ? az : acc;
    }
  }
  double a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  bool bad_tail = false;
  for (; i < n; ++i) {
    const double zi =
        std::clamp(((x[i] - offset[i]) - center[i]) * inv_scale[i], -kMaxAbsZ, kMaxAbsZ);
    z[i] = zi;
    bad_tail |= (x[i] - x[i]) != 0.0;
    if constexpr (kSumSquares) {
      if (zi == zi) a0 += zi * zi;
    } else {
      a0 = std::fabs(zi) > a0 ? std::fabs(zi) : a0;
    }
  }
  *finite = !bad_tail && (bad[0] | bad[1] | bad[2] | bad[3]) == 0;
  if constexpr (kSumSquares) {
    return (a0 + a1) + (a2 + a3);  // each term <= 1e200, so the sum stays finite
  } else {
    return std::max(std::max(a0, a1), std::max(a2, a3));
  }
}

// The two combines, each compiled per clone (target_clones does not apply to templates).
OAP_VECTOR_CLONES
double standardize_max(const double* x, const double* offset, const double* center,
                       const double* inv_scale, double* z, std::size_t n, bool* finite) {
  return standardize<false>(x, offset, center, inv_scale, z, n, finite);
}
OAP_VECTOR_CLONES
double standardize_sum_squares(const double* x, const double* offset, const double* center,
                               const double* inv_scale, double* z, std::size_t n, bool* finite) {
  return standardize<true>(x, offset, center, inv_scale, z, n, finite);
}

// The largest variance whose reciprocal square root is computed through float (below): float
// holds v, 1 / sqrt(v) and their squares without overflow or subnormals.
constexpr double kFloatSafeVarianceMax = 1e36;
constexpr double kFloatSafeVarianceMin = 1e-36;
// Fewer features than this take the exact double formula (see finish_inverse_scales).
constexpr std::size_t kFloatPathMinFeatures = 8;

// inv[i] = 1 / sqrt(v), v = max(m2[i] * inv_denom, min_var) (= 1 / max(sd, min_std) with
// min_var = min_std^2). The divider unit is the bottleneck of a z-score update at d >= 8, and its
// float square root and division take 8 lanes at a time at about the cost of 4 in double: so a
// float reciprocal square root, then one Newton step in double, y (1.5 - v y^2 / 2), which
// squares its ~1e-7 relative error to ~2e-14. Only IEEE-exact operations, so every CPU and clone
// gives the same bits. If some variance is outside the float-safe range, or d < 8, every feature
// takes the exact double formula instead.
//
// finish_inverse_scales turns the variances v (in inv, already floored) into 1 / sqrt(v);
// out_of_range says whether some v is outside the float-safe range. Written as plain loops,
// each of which GCC vectorizes.
[[gnu::always_inline]] inline void finish_inverse_scales(double* __restrict inv,
                                                         std::int64_t out_of_range, std::size_t n) {
  // Below 8 features the divider is not the bottleneck but the latency of the chain is (the next
  // point's score waits for it), and float plus Newton is the longer chain.
  if (out_of_range != 0 || n < kFloatPathMinFeatures) {
    for (std::size_t i = 0; i < n; ++i) inv[i] = 1.0 / std::sqrt(inv[i]);
    return;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const double v = inv[i];
    const double y = static_cast<double>(1.0f / std::sqrt(static_cast<float>(v)));
    inv[i] = y * (1.5 - ((0.5 * v) * y) * y);
  }
}

[[gnu::always_inline]] inline std::int64_t outside_float_range(double v) {
  return static_cast<std::int64_t>(v < kFloatSafeVarianceMin) |
         static_cast<std::int64_t>(v > kFloatSafeVarianceMax);
}

OAP_VECTOR_CLONES
void inverse_scales(const double* __restrict m2, double inv_denom, double min_var,
                    double* __restrict inv, std::size_t n) {
  std::int64_t out_of_range = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double v = std::max(m2[i] * inv_denom, min_var);
    inv[i] = v;
    out_of_range |= outside_float_range(v);
  }
  finish_inverse_scales(inv, out_of_range, n);
}

// One Welford step for every feature (y = x - offset; mean += (y - mean) / n; m2 += ...), then
// inv = 1 / sqrt(max(m2 * inv_denom, min_var)) exactly as inverse_scales computes it: a
// detector restored from its m2 gets the same bits.
OAP_VECTOR_CLONES
void welford_step_and_scales(const double* __restrict x, const double* __restrict offset,
                             double inv_n, double inv_denom, double min_var,
                             double* __restrict mean, double* __restrict m2, double* __restrict inv,
                             std::size_t n) {
  std::int64_t out_of_range = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double y = x[i] - offset[i];
    const double delta = y - mean[i];
    mean[i] += delta * inv_n;
    m2[i] += delta * (y - mean[i]);
    const double v = std::max(m2[i] * inv_denom, min_var);
    inv[i] = v;
    out_of_range |= outside_float_range(v);
  }
  finish_inverse_scales(inv, out_of_range, n);
}

}  // namespace

void ZScoreOptions::validate() const {
  OAP_CHECK(std::isfinite(half_life) && half_life > 0, ConfigError,
            "zscore.half_life must be > 0 events, got " + std::to_string(half_life));
  OAP_CHECK(robust_window >= 3 && robust_window <= 65536, ConfigError,
            "zscore.robust_window must be in 3..65536, got " + std::to_string(robust_window));
  OAP_CHECK(alpha > 0 && alpha < 1, ConfigError,
            "zscore.alpha must be in (0, 1), got " + std::to_string(alpha));
  OAP_CHECK(min_history >= 2, ConfigError,
            "zscore.min_history must be >= 2, got " + std::to_string(min_history));
  OAP_CHECK(std::isfinite(min_std) && min_std > 0, ConfigError,
            "zscore.min_std must be > 0, got " + std::to_string(min_std));
}

void to_json(nlohmann::json& j, const ZScoreOptions& o) {
  j = {{"mode", mode_name(o.mode)},
       {"half_life", o.half_life},
       {"robust", o.robust},
       {"robust_window", o.robust_window},
       {"combine", combine_name(o.combine)},
       {"alpha", o.alpha},
       {"min_history", o.min_history},
       {"min_std", o.min_std}};
}

void from_json(const nlohmann::json& j, ZScoreOptions& o) {
  JsonObjectReader r(j, "zscore");
  std::string mode = r.get<std::string>("mode", mode_name(o.mode));
  OAP_CHECK(mode == "welford" || mode == "ewma", ConfigError,
            "zscore.mode must be \"welford\" or \"ewma\", got \"" + mode + "\"");
  o.mode = mode == "welford" ? ZScoreOptions::Mode::kWelford : ZScoreOptions::Mode::kEwma;
  o.half_life = r.get<double>("half_life", o.half_life);
  o.robust = r.get<bool>("robust", o.robust);
  o.robust_window = r.get<std::size_t>("robust_window", o.robust_window);
  std::string combine = r.get<std::string>("combine", combine_name(o.combine));
  OAP_CHECK(combine == "max" || combine == "sum_squares", ConfigError,
            "zscore.combine must be \"max\" or \"sum_squares\", got \"" + combine + "\"");
  o.combine = combine == "max" ? ZScoreOptions::Combine::kMax : ZScoreOptions::Combine::kSumSquares;
  o.alpha = r.get<double>("alpha", o.alpha);
  o.min_history = r.get<std::size_t>("min_history", o.min_history);
  o.min_std = r.get<double>("min_std", o.min_std);
  r.finish();
  o.validate();
}

ZScoreDetector::ZScoreDetector(std::size_t dim, ZScoreOptions options)
    : dim_(dim), options_(options) {
  OAP_CHECK(dim > 0, InvalidArgument, "zscore: dimension must be >= 1");
  options_.validate();
  ewma_rate_ = -std::expm1(-std::log(2.0) / options_.half_life);
  reset();
}

void ZScoreDetector::reset() {
  n_ = 0;
  offset_.assign(dim_, 0.0);
  mean_.assign(dim_, 0.0);
  m2_.assign(dim_, 0.0);
  window_.assign(options_.robust ? options_.robust_window * dim_ : 0, 0.0);
  window_pos_ = 0;
  median_.assign(dim_, 0.0);
  mad_.assign(dim_, 0.0);
  inv_scale_.assign(dim_, 0.0);
  refresh_scales();
}

double ZScoreDetector::center(std::size_t i) const {
  return offset_.at(i) + (options_.robust ? median_.at(i) : mean_.at(i));
}

double ZScoreDetector::scale(std::size_t i) const {
  if (options_.robust) return 1.4826 * mad_.at(i);
  if (n_ < 2) return 0.0;
  if (options_.mode == ZScoreOptions::Mode::kEwma) return std::sqrt(m2_.at(i));
  return std::sqrt(m2_.at(i) / static_cast<double>(n_ - 1));
}

Score ZScoreDetector::score(std::span<const double> x) const {
  Score s;
  score_into(x, s);
  return s;
}

void ZScoreDetector::score_into(std::span<const double> x, Score& s) const {
  switch (standardize_checked(x, s)) {
    case Standardized::kNeutral:
      return;
    case Standardized::kNotFinite:
      throw_not_finite(x);
    case Standardized::kDone:
      finish_score(s);
  }
}

void ZScoreDetector::update(std::span<const double> x) {
  check_point(x, dim_, "zscore");
  update_unchecked(x);
}

void ZScoreDetector::score_and_update(std::span<const double> x, Score& out) {
  const Standardized st = standardize_checked(x, out);
  if (st == Standardized::kNotFinite) throw_not_finite(x);
  // The update does not depend on the p-value: doing it first lets the CPU overlap it with the
  // p-value's long dependency chain.
  update_unchecked(x);
  if (st == Standardized::kDone) finish_score(out);
}

void ZScoreDetector::throw_not_finite(std::span<const double> x) const {
  check_point(x, dim_, "zscore");  // names the feature
  OAP_THROW(InvalidArgument, "zscore: a feature is not finite");
}

ZScoreDetector::Standardized ZScoreDetector::standardize_checked(std::span<const double> x,
                                                                 Score& s) const {
  if (x.size() != dim_ || n_ < options_.min_history) {
    check_point(x, dim_, "zscore");
    s.contributions.assign(dim_, 0.0);
    s.score = 0.0;
    s.p_value = 1.0;
    s.flagged = false;
    return Standardized::kNeutral;
  }
  s.contributions.resize(dim_);
  double* zs = s.contributions.data();
  // A multiply by the cached 1 / max(scale, min_std) (see refresh_scales) per feature; the same
  // pass checks that x is finite.
  const double* center = options_.robust ? median_.data() : mean_.data();
  bool finite = true;
  if (options_.combine == ZScoreOptions::Combine::kMax) {
    s.score = standardize_max(x.data(), offset_.data(), center, inv_scale_.data(), zs, dim_,
                              &finite);  // max |z|
  } else {
    const double ss = standardize_sum_squares(x.data(), offset_.data(), center, inv_scale_.data(),
                                              zs, dim_, &finite);
    s.score = std::min(ss, 1e300);
  }
  return finite ? Standardized::kDone : Standardized::kNotFinite;
}

void ZScoreDetector::finish_score(Score& s) const {
  if (options_.combine == ZScoreOptions::Combine::kMax) {
    // Sidak: P(max of d independent |Z| >= m) = 1 - (1 - p1)^d.
    s.p_value = sidak_p(normal_two_sided_p(s.score), dim_);
  } else {
    s.p_value = chi_square_sf(s.score, static_cast<double>(dim_));
  }
  s.p_value = std::clamp(s.p_value, 0.0, 1.0);
  s.flagged = s.p_value < options_.alpha;
}

void ZScoreDetector::update_unchecked(std::span<const double> x) {
  if (n_ == 0) offset_.assign(x.begin(), x.end());
  ++n_;
  const double n = static_cast<double>(n_);
  const double inv_n = 1.0 / n;
  const double *xs = x.data(), *off = offset_.data();
  double *mean = mean_.data(), *m2 = m2_.data();
  if (options_.mode == ZScoreOptions::Mode::kWelford && !options_.robust && n_ >= 2) {
    // The hot path: the step and refresh_scales() in one pass.
    const double inv_denom = 1.0 / static_cast<double>(n_ - 1);
    welford_step_and_scales(xs, off, inv_n, inv_denom, options_.min_std * options_.min_std, mean,
                            m2, inv_scale_.data(), dim_);
    return;
  }
  if (options_.mode == ZScoreOptions::Mode::kWelford) {
    for (std::size_t i = 0; i < dim_; ++i) {
      const double y = xs[i] - off[i];
      const double delta = y - mean[i];
      mean[i] += delta * inv_n;
      m2[i] += delta * (y - mean[i]);
    }
  } else {
    // EWMA uses weight max(rate, 1/n): the first points are then averaged exactly (no bias
    // toward the first value), and the rate takes over once 1/n drops below it.
    const double rate = std::max(ewma_rate_, inv_n);
    for (std::size_t i = 0; i < dim_; ++i) {
      double delta = (xs[i] - off[i]) - mean[i];
      double incr = rate * delta;
      mean[i] += incr;
      m2[i] = (1.0 - rate) * (m2[i] + delta * incr);
    }
  }
  if (options_.robust) {
    std::copy(x.begin(), x.end(), window_.begin() + window_pos_ * dim_);
    for (std::size_t i = 0; i < dim_; ++i) window_[window_pos_ * dim_ + i] -= offset_[i];
    window_pos_ = (window_pos_ + 1) % options_.robust_window;
    refresh_robust();
  }
  refresh_scales();
}

void ZScoreDetector::refresh_scales() {
  double* inv = inv_scale_.data();
  if (options_.robust) {
    for (std::size_t i = 0; i < dim_; ++i) {
      inv[i] = 1.0 / std::max(1.4826 * mad_[i], options_.min_std);
    }
    return;
  }
  if (n_ < 2) {
    std::fill(inv, inv + dim_, 1.0 / options_.min_std);
    return;
  }
  // variance = m2 / (n - 1) (Welford) or m2 itself (EWMA), as scale() computes it (up to a
  // relative ~2e-14: the reciprocal of n - 1 and the refined float square root).
  const double inv_denom =
      options_.mode == ZScoreOptions::Mode::kEwma ? 1.0 : 1.0 / static_cast<double>(n_ - 1);
  inverse_scales(m2_.data(), inv_denom, options_.min_std * options_.min_std, inv, dim_);
}

void ZScoreDetector::refresh_robust() {
  std::size_t rows = std::min<std::uint64_t>(n_, options_.robust_window);
  std::vector<double> col(rows);
  for (std::size_t i = 0; i < dim_; ++i) {
    for (std::size_t r = 0; r < rows; ++r) col[r] = window_[r * dim_ + i];
    median_[i] = median_of(col);
    for (std::size_t r = 0; r < rows; ++r) col[r] = std::fabs(window_[r * dim_ + i] - median_[i]);
    mad_[i] = median_of(col);
  }
}

nlohmann::json ZScoreDetector::save() const {
  return {{"kind", kind()}, {"dim", dim_},       {"options", options_},
          {"n", n_},        {"offset", offset_}, {"mean", mean_},
          {"m2", m2_},      {"window", window_}, {"window_pos", window_pos_}};
}

void ZScoreDetector::load(const nlohmann::json& state) {
  JsonObjectReader r(state, "zscore");
  detail::check_state_header(r, kind(), dim_);
  ZScoreOptions options = r.require<ZScoreOptions>("options");
  ZScoreDetector fresh(dim_, options);
  fresh.n_ = r.require<std::uint64_t>("n");
  fresh.offset_ = r.numbers("offset", dim_);
  fresh.mean_ = r.numbers("mean", dim_);
  fresh.m2_ = r.numbers("m2", dim_);
  fresh.window_ = r.numbers("window", fresh.window_.size());
  fresh.window_pos_ = r.require<std::size_t>("window_pos");
  OAP_CHECK(fresh.window_pos_ < std::max<std::size_t>(options.robust_window, 1), ConfigError,
            "zscore.window_pos: out of range");
  if (fresh.options_.robust && fresh.n_ > 0) fresh.refresh_robust();
  fresh.refresh_scales();
  *this = std::move(fresh);
}

std::unique_ptr<Detector> ZScoreDetector::clone() const {
  return std::make_unique<ZScoreDetector>(*this);
}

}  // namespace oap
