#include "oap/detect/ensemble_detector.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "detect/state_header.hpp"
#include "oap/core/json_config.hpp"
#include "oap/detect/detector_factory.hpp"
#include "oap/detect/distributions.hpp"

namespace oap {

void EnsembleOptions::validate() const {
  OAP_CHECK(alpha > 0 && alpha < 1, ConfigError,
            "ensemble.alpha must be in (0, 1), got " + std::to_string(alpha));
  calibration.validate();
}

void to_json(nlohmann::json& j, const EnsembleOptions& o) {
  j = {{"method", o.method == EnsembleOptions::Method::kBonferroni ? "bonferroni" : "fisher"},
       {"calibrate", o.calibrate},
       {"calibration", o.calibration},
       {"alpha", o.alpha}};
}

void from_json(const nlohmann::json& j, EnsembleOptions& o) {
  JsonObjectReader r(j, "ensemble");
  auto m = r.get<std::string>(
      "method", o.method == EnsembleOptions::Method::kBonferroni ? "bonferroni" : "fisher");
  OAP_CHECK(m == "bonferroni" || m == "fisher", ConfigError,
            "ensemble.method must be \"bonferroni\" or \"fisher\", got \"" + m + "\"");
  o.method =
      m == "fisher" ? EnsembleOptions::Method::kFisher : EnsembleOptions::Method::kBonferroni;
  o.calibrate = r.get<bool>("calibrate", o.calibrate);
  if (!r.raw("calibration").is_null())
    o.calibration = r.raw("calibration").get<ScoreCalibratorOptions>();
  o.alpha = r.get<double>("alpha", o.alpha);
  r.finish();
  o.validate();
}

EnsembleDetector::EnsembleDetector(std::vector<std::unique_ptr<Detector>> members,
                                   EnsembleOptions options)
    : options_(options), members_(std::move(members)) {
  options_.validate();
  OAP_CHECK(!members_.empty(), InvalidArgument, "ensemble: needs at least one member");
  dim_ = members_[0]->dim();
  for (std::size_t i = 0; i < members_.size(); ++i) {
    OAP_CHECK(members_[i] != nullptr, InvalidArgument,
              "ensemble: member " + std::to_string(i) + " is null");
    OAP_CHECK(members_[i]->dim() == dim_, InvalidArgument,
              "ensemble: member " + std::to_string(i) + " (" + members_[i]->kind() + ") has dim " +
                  std::to_string(members_[i]->dim()) + ", member 0 has " + std::to_string(dim_));
  }
  calibrators_.assign(members_.size(), ScoreCalibrator(options_.calibration));
}

double EnsembleDetector::combine(const std::vector<double>& p_values) const {
  const double k = static_cast<double>(p_values.size());
  if (options_.method == EnsembleOptions::Method::kBonferroni) {
    return std::min(1.0, k * *std::min_element(p_values.begin(), p_values.end()));
  }
  double stat = 0;
  for (double p : p_values) stat += -2.0 * std::log(std::max(p, 1e-300));
  return chi_square_sf(stat, 2.0 * k);
}

void EnsembleDetector::calibrate(std::size_t i, Score& s) const {
  if (options_.calibrate && calibrators_[i].ready()) {
    s.p_value = calibrators_[i].p_value(s.score);
    s.flagged = s.p_value < options_.alpha;
  }
}

void EnsembleDetector::learn_score(std::size_t i, double raw_score, double raw_p) {
  // A member still in its cold start returns the neutral score; keep those out of its
  // calibration history, they say nothing about its score distribution.
  if (options_.calibrate && !(raw_score == 0.0 && raw_p == 1.0)) calibrators_[i].add(raw_score);
}

std::vector<Score> EnsembleDetector::member_scores(std::span<const double> x) const {
  check_point(x, dim_, "ensemble");
  std::vector<Score> out;
  out.reserve(members_.size());
  for (std::size_t i = 0; i < members_.size(); ++i) {
    Score s = members_[i]->score(x);
    calibrate(i, s);
    out.push_back(std::move(s));
  }
  return out;
}

Score EnsembleDetector::combine_members(const std::vector<Score>& members) const {
  std::vector<double> p;
  Score s;
  s.contributions.assign(dim_, 0.0);
  for (const Score& m : members) {
    p.push_back(m.p_value);
    double total = 0;
    for (double c : m.contributions) total += std::fabs(c);
    if (total > 0 && std::isfinite(total))
      for (std::size_t f = 0; f < dim_; ++f)
        s.contributions[f] += std::fabs(m.contributions[f]) / total / members.size();
  }
  s.p_value = std::clamp(combine(p), 0.0, 1.0);
  // + 0.0 turns the -0 of p = 1 into 0 (JSON would say "-0.0").
  s.score = std::min(300.0, -std::log10(std::max(s.p_value, 1e-300))) + 0.0;
  s.flagged = s.p_value < options_.alpha;
  return s;
}

Score EnsembleDetector::score(std::span<const double> x) const {
  return combine_members(member_scores(x));
}

void EnsembleDetector::update(std::span<const double> x) {
  check_point(x, dim_, "ensemble");
  Score raw;
  for (std::size_t i = 0; i < members_.size(); ++i) {
    if (options_.calibrate) {
      members_[i]->score_and_update(x, raw);
      learn_score(i, raw.score, raw.p_value);
    } else {
      members_[i]->update(x);
    }
  }
  ++n_;
}

void EnsembleDetector::score_and_update(std::span<const double> x, Score& out) {
  check_point(x, dim_, "ensemble");
  // Each member scores x once: its raw score is calibrated (against the history before x), and
  // the same raw score then joins that history, as score() followed by update() would do.
  std::vector<Score> members(members_.size());
  for (std::size_t i = 0; i < members_.size(); ++i) {
    members_[i]->score_and_update(x, members[i]);
    const double raw_p = members[i].p_value;
    calibrate(i, members[i]);
    learn_score(i, members[i].score, raw_p);
  }
  ++n_;
  out = combine_members(members);
}

void EnsembleDetector::reset() {
  for (auto& m : members_) m->reset();
  calibrators_.assign(members_.size(), ScoreCalibrator(options_.calibration));
  n_ = 0;
}

nlohmann::json EnsembleDetector::save() const {
  nlohmann::json members = nlohmann::json::array(), calibrators = nlohmann::json::array();
  for (const auto& m : members_) members.push_back(m->save());
  for (const auto& c : calibrators_) calibrators.push_back(c.save());
  return {{"kind", kind()}, {"dim", dim_},        {"options", options_},
          {"n", n_},        {"members", members}, {"calibrators", calibrators}};
}

void EnsembleDetector::load(const nlohmann::json& state) {
  JsonObjectReader r(state, "ensemble");
  detail::check_state_header(r, kind(), dim_);
  auto options = r.require<EnsembleOptions>("options");
  const auto& members = r.require_raw("members");
  const auto& calibrators = r.require_raw("calibrators");
  OAP_CHECK(members.is_array() && !members.empty() && calibrators.is_array() &&
                calibrators.size() == members.size(),
            ConfigError,
            "ensemble.members/calibrators: expected two arrays of equal, non-zero size");
  std::vector<std::unique_ptr<Detector>> built;
  for (const auto& m : members) built.push_back(restore_detector(m));
  EnsembleDetector e(std::move(built), options);
  for (std::size_t i = 0; i < calibrators.size(); ++i) e.calibrators_[i].load(calibrators[i]);
  e.n_ = r.require<std::uint64_t>("n");
  OAP_CHECK(e.dim_ == dim_, ConfigError, "ensemble: members' dim differs from the state's dim");
  *this = std::move(e);
}

std::unique_ptr<Detector> EnsembleDetector::clone() const {
  std::vector<std::unique_ptr<Detector>> copies;
  for (const auto& m : members_) copies.push_back(m->clone());
  auto e = std::make_unique<EnsembleDetector>(std::move(copies), options_);
  e->calibrators_ = calibrators_;
  e->n_ = n_;
  return e;
}

}  // namespace oap
