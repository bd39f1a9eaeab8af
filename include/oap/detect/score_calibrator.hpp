#pragma once
// ScoreCalibrator: raw scores -> p-values from the empirical distribution of recent scores.

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <vector>

namespace oap {

struct ScoreCalibratorOptions {
  // Recent scores kept (the empirical CDF is over these). Requires 10..1000000. Default: 500.
  std::size_t window = 500;
  // Scores needed before p_value() is used (ready()); fewer give unreliable tails.
  // Requires 1 <= min_scores <= window. Default: 50.
  std::size_t min_scores = 50;
  // Above the largest recent score the empirical p-value stops at 1 / (1 + #recent), so every
  // such score ties. true: continue it with an exponential tail fitted to the largest 10% of the
  // recent scores (peaks over threshold), p(s) = p_max * exp(-(s - max) / beta), beta = their
  // mean excess, so a score far beyond the history ranks as more extreme than one just beyond it.
  // Needs at least 11 recent scores, and spread among the largest, or stays at the floor.
  // Default: true.
  bool extrapolate_tail = true;

  void validate() const;
};
void to_json(nlohmann::json& j, const ScoreCalibratorOptions& o);
void from_json(const nlohmann::json& j, ScoreCalibratorOptions& o);

// Keeps the last `window` raw scores of one detector for one user and answers
// p(s) = (1 + #{recent scores >= s}) / (1 + #recent), the conformal p-value: under "s comes from
// the same distribution as the recent scores" it is (super-)uniform, so p < alpha happens with
// probability <= alpha whatever the detector's scale. The +1 keeps it > 0.
// Beyond the largest recent score the tail is extrapolated (ScoreCalibratorOptions::
// extrapolate_tail): only p-values below 1 / (1 + #recent) change, so the guarantee above still
// holds for every alpha >= 1 / (1 + #recent); below that the p-value rests on the tail model.
// add() is O(window) (sorted insert), p_value() O(log window), or O(window / 10) beyond the
// largest recent score.
// Thread safety: const methods concurrent; add() needs external synchronization.
class ScoreCalibrator {
 public:
  explicit ScoreCalibrator(ScoreCalibratorOptions options = {});

  // Records a raw score (must be finite; non-finite scores are ignored).
  void add(double score);
  // The empirical upper-tail p-value of s (1 with no scores).
  double p_value(double s) const;
  bool ready() const { return sorted_.size() >= options_.min_scores; }
  std::size_t size() const { return sorted_.size(); }
  const ScoreCalibratorOptions& options() const { return options_; }

  nlohmann::json save() const;
  // Throws ConfigError naming the field for a malformed state.
  void load(const nlohmann::json& state);

 private:
  ScoreCalibratorOptions options_;
  std::vector<double> ring_;    // insertion order, size <= window
  std::size_t next_ = 0;        // where the next score goes once ring_ is full
  std::vector<double> sorted_;  // the same scores, ascending
};

}  // namespace oap
