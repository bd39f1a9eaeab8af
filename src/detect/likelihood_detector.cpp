#include "oap/detect/likelihood_detector.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "detect/state_header.hpp"
#include "oap/core/error.hpp"
#include "oap/core/json_config.hpp"
#include "oap/detect/detector_factory.hpp"
#include "oap/detect/distributions.hpp"

namespace oap {

void LikelihoodOptions::validate() const {
  OAP_CHECK(short_window >= 1 && short_window <= 4096, ConfigError,
            "likelihood.short_window must be in 1..4096, got " + std::to_string(short_window));
  OAP_CHECK(long_window > short_window && long_window <= 65536, ConfigError,
            "likelihood.long_window must be > short_window (" + std::to_string(short_window) +
                ") and <= 65536, got " + std::to_string(long_window));
  OAP_CHECK(min_scores >= 2 && min_scores <= long_window, ConfigError,
            "likelihood.min_scores must be in 2..long_window (" + std::to_string(long_window) +
                "), got " + std::to_string(min_scores));
  OAP_CHECK(std::isfinite(min_std) && min_std > 0, ConfigError,
            "likelihood.min_std must be > 0, got " + std::to_string(min_std));
  OAP_CHECK(alpha > 0 && alpha < 1, ConfigError,
            "likelihood.alpha must be in (0, 1), got " + std::to_string(alpha));
}

void to_json(nlohmann::json& j, const LikelihoodOptions& o) {
  j = {{"short_window", o.short_window},
       {"long_window", o.long_window},
       {"min_scores", o.min_scores},
       {"min_std", o.min_std},
       {"alpha", o.alpha}};
}

void from_json(const nlohmann::json& j, LikelihoodOptions& o) {
  JsonObjectReader r(j, "likelihood");
  o.short_window = r.get<std::size_t>("short_window", o.short_window);
  o.long_window = r.get<std::size_t>("long_window", o.long_window);
  o.min_scores = r.get<std::size_t>("min_scores", o.min_scores);
  o.min_std = r.get<double>("min_std", o.min_std);
  o.alpha = r.get<double>("alpha", o.alpha);
  r.finish();
  o.validate();
}

LikelihoodDetector::LikelihoodDetector(std::unique_ptr<Detector> inner, LikelihoodOptions options)
    : inner_(std::move(inner)), options_(options) {
  OAP_CHECK(inner_ != nullptr, InvalidArgument, "likelihood: the inner detector is null");
  options_.validate();
}

double LikelihoodDetector::surprise(double p_value) {
  return std::clamp(normal_isf(p_value), -8.0, 8.0);
}

// The mean of the newest k - 1 recorded surprises and s.
double LikelihoodDetector::short_mean(double s) const {
  const std::size_t k = options_.short_window;
  double sum = s;
  for (std::size_t i = values_.size() - (k - 1); i < values_.size(); ++i) sum += values_[i];
  return sum / static_cast<double>(k);
}

Score LikelihoodDetector::judge(Score inner) const {
  Score out;
  out.contributions = std::move(inner.contributions);
  const std::size_t k = options_.short_window;
  // The reference: the short-window means of the long window, before the current window.
  const std::size_t overlap = std::min(k - 1, means_.size());
  const std::size_t count = means_.size() - overlap;
  if (count < options_.min_scores || values_.size() < k - 1) return out;  // too little history
  const double m = short_mean(surprise(inner.p_value));
  double mean = 0.0;
  for (std::size_t i = 0; i < count; ++i) mean += means_[i];
  mean /= static_cast<double>(count);
  double ss = 0.0;
  for (std::size_t i = 0; i < count; ++i) ss += (means_[i] - mean) * (means_[i] - mean);
  const double sd = std::max(std::sqrt(ss / static_cast<double>(count - 1)), options_.min_std);
  out.score = (m - mean) / sd;
  out.p_value = normal_sf(out.score);
  out.flagged = out.p_value < options_.alpha;
  return out;
}

void LikelihoodDetector::record(double surprise_value) {
  const std::size_t k = options_.short_window;
  // A short mean exists once k values do (this one included).
  if (values_.size() >= k - 1) {
    means_.push_back(short_mean(surprise_value));
    while (means_.size() > options_.long_window + k - 1) means_.pop_front();
  }
  values_.push_back(surprise_value);
  while (values_.size() > k - 1) values_.pop_front();
  ++n_;
}

Score LikelihoodDetector::score(std::span<const double> x) const { return judge(inner_->score(x)); }

void LikelihoodDetector::update(std::span<const double> x) {
  Score inner;
  inner_->score_and_update(x, inner);  // checks x; throws before anything is learned
  record(surprise(inner.p_value));
}

void LikelihoodDetector::score_and_update(std::span<const double> x, Score& out) {
  Score inner;
  inner_->score_and_update(x, inner);
  const double s = surprise(inner.p_value);
  out = judge(std::move(inner));
  record(s);
}

void LikelihoodDetector::reset() {
  inner_->reset();
  values_.clear();
  means_.clear();
  n_ = 0;
}

nlohmann::json LikelihoodDetector::save() const {
  return {{"kind", kind()},
          {"dim", dim()},
          {"options", options_},
          {"n", n_},
          {"inner", inner_->save()},
          {"values", std::vector<double>(values_.begin(), values_.end())},
          {"means", std::vector<double>(means_.begin(), means_.end())}};
}

void LikelihoodDetector::load(const nlohmann::json& state) {
  JsonObjectReader r(state, "likelihood");
  detail::check_state_header(r, kind(), dim());
  auto options = r.require<LikelihoodOptions>("options");
  auto inner = restore_detector(r.require_raw("inner"));
  OAP_CHECK(inner->dim() == dim(), ConfigError,
            "likelihood.inner: dim " + std::to_string(inner->dim()) + " differs from the state's " +
                std::to_string(dim()));
  auto values = r.require<std::vector<double>>("values");
  auto means = r.require<std::vector<double>>("means");
  OAP_CHECK(values.size() <= options.short_window - 1 &&
                means.size() <= options.long_window + options.short_window - 1,
            ConfigError,
            "likelihood.values/means: " + std::to_string(values.size()) + " and " +
                std::to_string(means.size()) + " values, more than the windows hold");
  for (const auto* list : {&values, &means}) {
    for (double v : *list) {
      OAP_CHECK(std::isfinite(v) && v >= -8.0 && v <= 8.0, ConfigError,
                "likelihood.values/means: a value outside [-8, 8]: " + std::to_string(v));
    }
  }
  auto n = r.require<std::uint64_t>("n");
  r.finish();
  inner_ = std::move(inner);
  options_ = options;
  values_.assign(values.begin(), values.end());
  means_.assign(means.begin(), means.end());
  n_ = n;
}

std::unique_ptr<Detector> LikelihoodDetector::clone() const {
  auto copy = std::make_unique<LikelihoodDetector>(inner_->clone(), options_);
  copy->values_ = values_;
  copy->means_ = means_;
  copy->n_ = n_;
  return copy;
}

}  // namespace oap
