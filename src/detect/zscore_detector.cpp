#include "oap/detect/zscore_detector.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "detect/simd.hpp"
#include "detect/state_json.hpp"
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

// z[i] = clamp(((x[i] - offset[i]) - center[i]) * inv_scale[i]), the combined score over
// features is max |z| or sum z^2. (x - offset) - center keeps the precision of small deviations
// around a large offset. The reductions run in 4 fixed lanes (independent chains), so the
// result is the same on every CPU and clone.
OAP_VECTOR_CLONES
double standardize(const double* x, const double* offset, const double* center,
                   const double* inv_scale, double* z, std::size_t n, bool sum_squares) {
  for (std::size_t i = 0; i < n; ++i) {
    z[i] = std::clamp(((x[i] - offset[i]) - center[i]) * inv_scale[i], -kMaxAbsZ, kMaxAbsZ);
  }
  // Four independent accumulators (registers, not memory), combined in a fixed order.
  double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
  std::size_t i = 0;
  if (sum_squares) {  // each term <= 1e200, so the sum stays finite
    for (; i + 4 <= n; i += 4) {
      a0 += z[i] * z[i];
      a1 += z[i + 1] * z[i + 1];
      a2 += z[i + 2] * z[i + 2];
      a3 += z[i + 3] * z[i + 3];
    }
    for (; i < n; ++i) a0 += z[i] * z[i];
    return (a0 + a1) + (a2 + a3);
  }
  for (; i + 4 <= n; i += 4) {
    a0 = std::max(a0, std::fabs(z[i]));
    a1 = std::max(a1, std::fabs(z[i + 1]));
    a2 = std::max(a2, std::fabs(z[i + 2]));
    a3 = std::max(a3, std::fabs(z[i + 3]));
  }
  for (; i < n; ++i) a0 = std::max(a0, std::fabs(z[i]));
  return std::max(std::max(a0, a1), std::max(a2, a3));
}

// inv[i] = 1 / max(sqrt(m2[i] * inv_denom), min_std).
OAP_VECTOR_CLONES
void inverse_scales(const double* m2, double inv_denom, double min_std, double* inv,
                    std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) inv[i] = 1.0 / std::max(std::sqrt(m2[i] * inv_denom), min_std);
}

// One Welford step for every feature: y = x - offset; mean += (y - mean) / n; m2 += ...
OAP_VECTOR_CLONES
void welford_step(const double* x, const double* offset, double inv_n, double* mean, double* m2,
                  std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    double y = x[i] - offset[i];
    double delta = y - mean[i];
    mean[i] += delta * inv_n;
    m2[i] += delta * (y - mean[i]);
  }
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
  j = {{"mode", mode_name(o.mode)},         {"half_life", o.half_life},
       {"robust", o.robust},                {"robust_window", o.robust_window},
       {"combine", combine_name(o.combine)}, {"alpha", o.alpha},
       {"min_history", o.min_history},      {"min_std", o.min_std}};
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
  check_point(x, dim_, "zscore");
  score_unchecked(x, s);
}

void ZScoreDetector::update(std::span<const double> x) {
  check_point(x, dim_, "zscore");
  update_unchecked(x);
}

void ZScoreDetector::score_and_update(std::span<const double> x, Score& out) {
  check_point(x, dim_, "zscore");
  score_unchecked(x, out);
  update_unchecked(x);
}

void ZScoreDetector::score_unchecked(std::span<const double> x, Score& s) const {
  s.contributions.resize(dim_);
  s.score = 0.0;
  s.p_value = 1.0;
  s.flagged = false;
  double* zs = s.contributions.data();
  if (n_ < options_.min_history) {
    std::fill(zs, zs + dim_, 0.0);
    return;
  }
  // A multiply by the cached 1 / max(scale, min_std) (see refresh_scales) per feature.
  const double* center = options_.robust ? median_.data() : mean_.data();
  const bool sum_squares = options_.combine == ZScoreOptions::Combine::kSumSquares;
  const double combined =
      standardize(x.data(), offset_.data(), center, inv_scale_.data(), zs, dim_, sum_squares);
  if (!sum_squares) {
    s.score = combined;  // max |z|
    // Sidak: P(max of d independent |Z| >= m) = 1 - (1 - p1)^d.
    s.p_value = sidak_p(normal_two_sided_p(combined), dim_);
  } else {
    s.score = std::min(combined, 1e300);
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
  if (options_.mode == ZScoreOptions::Mode::kWelford) {
    welford_step(xs, off, inv_n, mean, m2, dim_);
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
  // variance = m2 / (n - 1) (Welford) or m2 itself (EWMA), as scale() computes it (up to the
  // rounding of multiplying by the reciprocal).
  const double inv_denom =
      options_.mode == ZScoreOptions::Mode::kEwma ? 1.0 : 1.0 / static_cast<double>(n_ - 1);
  inverse_scales(m2_.data(), inv_denom, options_.min_std, inv, dim_);
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
  return {{"kind", kind()}, {"dim", dim_},   {"options", options_}, {"n", n_},
          {"offset", offset_}, {"mean", mean_}, {"m2", m2_},         {"window", window_},
          {"window_pos", window_pos_}};
}

void ZScoreDetector::load(const nlohmann::json& state) {
  detail::check_state_header(state, kind(), dim_);
  ZScoreOptions options = detail::state_field(state, "options", "zscore").get<ZScoreOptions>();
  ZScoreDetector fresh(dim_, options);
  fresh.n_ = detail::state_get<std::uint64_t>(state, "n", "zscore");
  fresh.offset_ = detail::state_vector(state, "offset", "zscore", dim_);
  fresh.mean_ = detail::state_vector(state, "mean", "zscore", dim_);
  fresh.m2_ = detail::state_vector(state, "m2", "zscore", dim_);
  fresh.window_ = detail::state_vector(state, "window", "zscore", fresh.window_.size());
  fresh.window_pos_ = detail::state_get<std::size_t>(state, "window_pos", "zscore");
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
