#include "oap/detect/score_calibrator.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "oap/core/json_config.hpp"

namespace oap {

void ScoreCalibratorOptions::validate() const {
  OAP_CHECK(window >= 10 && window <= 1000000, ConfigError,
            "calibration.window must be in 10..1000000, got " + std::to_string(window));
  OAP_CHECK(min_scores >= 1 && min_scores <= window, ConfigError,
            "calibration.min_scores must be in 1..window (" + std::to_string(window) + "), got " +
                std::to_string(min_scores));
}

void to_json(nlohmann::json& j, const ScoreCalibratorOptions& o) {
  j = {
      {"window", o.window}, {"min_scores", o.min_scores}, {"extrapolate_tail", o.extrapolate_tail}};
}

void from_json(const nlohmann::json& j, ScoreCalibratorOptions& o) {
  JsonObjectReader r(j, "calibration");
  o.window = r.get<std::size_t>("window", o.window);
  o.min_scores = r.get<std::size_t>("min_scores", o.min_scores);
  o.extrapolate_tail = r.get<bool>("extrapolate_tail", o.extrapolate_tail);
  r.finish();
  o.validate();
}

ScoreCalibrator::ScoreCalibrator(ScoreCalibratorOptions options) : options_(options) {
  options_.validate();
}

void ScoreCalibrator::add(double score) {
  if (!std::isfinite(score)) return;
  if (ring_.size() < options_.window) {
    ring_.push_back(score);
  } else {
    double old = ring_[next_];
    sorted_.erase(std::lower_bound(sorted_.begin(), sorted_.end(), old));
    ring_[next_] = score;
    next_ = (next_ + 1) % options_.window;
  }
  sorted_.insert(std::upper_bound(sorted_.begin(), sorted_.end(), score), score);
}

double ScoreCalibrator::p_value(double s) const {
  if (sorted_.empty()) return 1.0;
  const std::size_t n = sorted_.size();
  const auto at_least =
      static_cast<double>(sorted_.end() - std::lower_bound(sorted_.begin(), sorted_.end(), s));
  const double p = (1.0 + at_least) / (1.0 + static_cast<double>(n));
  if (at_least > 0 || !options_.extrapolate_tail || n < 11 || std::isnan(s)) return p;
  // s is above every recent score. Peaks over threshold: the k = max(10, n / 10) largest
  // scores' excesses over the next one, u, are taken as exponential with mean beta.
  const std::size_t k = std::max<std::size_t>(10, n / 10);
  const double u = sorted_[n - 1 - k];
  double excess = 0.0;
  for (std::size_t i = n - k; i < n; ++i) excess += sorted_[i] - u;
  const double beta = excess / static_cast<double>(k);
  if (!(beta > 0.0) || !std::isfinite(beta)) return p;
  return p * std::exp(-(s - sorted_.back()) / beta);
}

nlohmann::json ScoreCalibrator::save() const {
  return {{"options", options_}, {"scores", ring_}, {"next", next_}};
}

void ScoreCalibrator::load(const nlohmann::json& state) {
  JsonObjectReader r(state, "calibration");
  auto options = r.require<ScoreCalibratorOptions>("options");
  ScoreCalibrator fresh(options);
  fresh.ring_ = r.numbers("scores");
  fresh.next_ = r.require<std::size_t>("next");
  OAP_CHECK(fresh.ring_.size() <= options.window, ConfigError,
            "calibration.scores: more scores than the window");
  OAP_CHECK(
      fresh.next_ < options.window && (fresh.ring_.size() == options.window || fresh.next_ == 0),
      ConfigError, "calibration.next: out of range");
  fresh.sorted_ = fresh.ring_;
  std::sort(fresh.sorted_.begin(), fresh.sorted_.end());
  *this = std::move(fresh);
}

}  // namespace oap
