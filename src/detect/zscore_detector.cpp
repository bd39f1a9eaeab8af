#include "oap/detect/zscore_detector.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

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
  check_point(x, dim_, "zscore");
  Score s;
  s.contributions.assign(dim_, 0.0);
  if (n_ < options_.min_history) return s;
  double max_abs = 0.0, sum_sq = 0.0;
  double* zs = s.contributions.data();
  if (!options_.robust && n_ >= 2) {
    // The hot path, with no per-feature branches or calls so that it vectorizes; the same
    // arithmetic as scale() (variance = m2 / (n - 1), or m2 itself for EWMA).
    const bool ewma = options_.mode == ZScoreOptions::Mode::kEwma;
    const double denom = ewma ? 1.0 : static_cast<double>(n_ - 1);
    const double min_std = options_.min_std;
    const double *off = offset_.data(), *mean = mean_.data(), *m2 = m2_.data();
    for (std::size_t i = 0; i < dim_; ++i) {
      double var = ewma ? m2[i] : m2[i] / denom;
      double sd = std::max(std::sqrt(var), min_std);
      // (x - offset) - mean keeps the precision of small deviations around a large offset.
      zs[i] = std::clamp(((x[i] - off[i]) - mean[i]) / sd, -kMaxAbsZ, kMaxAbsZ);
    }
  } else {
    for (std::size_t i = 0; i < dim_; ++i) {
      double c = options_.robust ? median_[i] : mean_[i];
      double sd = std::max(scale(i), options_.min_std);
      zs[i] = std::clamp(((x[i] - offset_[i]) - c) / sd, -kMaxAbsZ, kMaxAbsZ);
    }
  }
  for (std::size_t i = 0; i < dim_; ++i) {
    max_abs = std::max(max_abs, std::fabs(zs[i]));
    sum_sq = std::min(sum_sq + zs[i] * zs[i], 1e300);
  }
  const double d = static_cast<double>(dim_);
  if (options_.combine == ZScoreOptions::Combine::kMax) {
    s.score = max_abs;
    // Sidak: P(max of d independent |Z| >= m) = 1 - (1 - p1)^d, without cancellation.
    double p1 = normal_two_sided_p(max_abs);
    s.p_value = p1 >= 1.0 ? 1.0 : -std::expm1(d * std::log1p(-p1));
  } else {
    s.score = sum_sq;
    s.p_value = chi_square_sf(sum_sq, d);
  }
  s.p_value = std::clamp(s.p_value, 0.0, 1.0);
  s.flagged = s.p_value < options_.alpha;
  return s;
}

void ZScoreDetector::update(std::span<const double> x) {
  check_point(x, dim_, "zscore");
  if (n_ == 0) offset_.assign(x.begin(), x.end());
  ++n_;
  const double n = static_cast<double>(n_);
  // EWMA uses weight max(rate, 1/n): the first points are then averaged exactly (no bias
  // toward the first value), and the rate takes over once 1/n drops below it.
  const double rate = std::max(ewma_rate_, 1.0 / n);
  for (std::size_t i = 0; i < dim_; ++i) {
    double y = x[i] - offset_[i];
    double delta = y - mean_[i];
    if (options_.mode == ZScoreOptions::Mode::kWelford) {
      mean_[i] += delta / n;
      m2_[i] += delta * (y - mean_[i]);
    } else {
      double incr = rate * delta;
      mean_[i] += incr;
      m2_[i] = (1.0 - rate) * (m2_[i] + delta * incr);
    }
  }
  if (options_.robust) {
    std::copy(x.begin(), x.end(), window_.begin() + window_pos_ * dim_);
    for (std::size_t i = 0; i < dim_; ++i) window_[window_pos_ * dim_ + i] -= offset_[i];
    window_pos_ = (window_pos_ + 1) % options_.robust_window;
    refresh_robust();
  }
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
  *this = std::move(fresh);
}

std::unique_ptr<Detector> ZScoreDetector::clone() const {
  return std::make_unique<ZScoreDetector>(*this);
}

}  // namespace oap
