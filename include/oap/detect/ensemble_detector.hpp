#pragma once
// EnsembleDetector: several detectors on the same features, their p-values combined.

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <vector>

#include "oap/detect/detector.hpp"
#include "oap/detect/score_calibrator.hpp"

namespace oap {

struct EnsembleOptions {
  enum class Method {
    kBonferroni,  // p = min(1, k * min_i p_i): valid under any dependence between members
    kFisher,      // p = P(chi2(2k) > -2 sum ln p_i): more power, assumes independent members
  };
  // "bonferroni" | "fisher". Default: bonferroni.
  Method method = Method::kBonferroni;
  // Calibrate each member: its p-value becomes the empirical p-value of its raw score among
  // its own recent scores, once `calibration.min_scores` are held. Default: true.
  bool calibrate = true;
  ScoreCalibratorOptions calibration{};
  // flagged = combined p < alpha. Requires 0 < alpha < 1. Default: 0.01.
  double alpha = 0.01;

  void validate() const;
};
void to_json(nlohmann::json& j, const EnsembleOptions& o);
void from_json(const nlohmann::json& j, EnsembleOptions& o);

// score = -log10(combined p) (capped at 300); Score.contributions = the mean over members of
// each member's |contributions| normalized to sum 1. Owns its members.
// Thread safety: as Detector.
class EnsembleDetector final : public Detector {
 public:
  // All members must share one dimension; at least one member. Throws InvalidArgument.
  EnsembleDetector(std::vector<std::unique_ptr<Detector>> members, EnsembleOptions options = {});

  std::string kind() const override { return "ensemble"; }
  std::size_t dim() const override { return dim_; }
  std::uint64_t n_seen() const override { return n_; }
  Score score(std::span<const double> x) const override;
  void update(std::span<const double> x) override;
  // Scores each member once (score() then update() would score them twice).
  void score_and_update(std::span<const double> x, Score& out) override;
  void reset() override;
  nlohmann::json save() const override;
  // Members are rebuilt from their saved state (restore_detector), so any member kinds load.
  void load(const nlohmann::json& state) override;
  std::unique_ptr<Detector> clone() const override;

  // Each member's score with its (calibrated) p-value and flag, in member order.
  std::vector<Score> member_scores(std::span<const double> x) const;
  // Combines member p-values by the configured method.
  double combine(const std::vector<double>& p_values) const;
  const Detector& member(std::size_t i) const { return *members_.at(i); }
  std::size_t size() const { return members_.size(); }

 private:
  // Member i's p-value becomes its calibrated one (when calibrating and ready).
  void calibrate(std::size_t i, Score& s) const;
  // Adds member i's raw score for x to its calibrator (when calibrating; not a neutral score).
  void learn_score(std::size_t i, double raw_score, double raw_p);
  // The ensemble's Score from its members' (calibrated) scores.
  Score combine_members(const std::vector<Score>& members) const;

  std::size_t dim_;
  EnsembleOptions options_;
  std::uint64_t n_ = 0;
  std::vector<std::unique_ptr<Detector>> members_;
  std::vector<ScoreCalibrator> calibrators_;
};

}  // namespace oap
