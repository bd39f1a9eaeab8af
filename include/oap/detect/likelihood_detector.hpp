#pragma once
// LikelihoodDetector: anomaly likelihood, a post-processing stage over another detector's
// scores: a recent run of unusual scores against the long-run distribution of scores.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "oap/detect/detector.hpp"

namespace oap {

struct LikelihoodOptions {
  // Points in the short window: the mean of the inner detector's last short_window surprise
  // values (this point's included) is what is judged. Requires 1..4096. Default: 10.
  std::size_t short_window = 10;
  // Short-window means the current one is judged against (those of the points before the
  // short window). Requires > short_window, <= 65536. Default: 500.
  std::size_t long_window = 500;
  // Means the long window must hold before a p-value is given (p = 1 until then). Requires
  // 2..long_window. Default: 50.
  std::size_t min_scores = 50;
  // Floor on the long window's standard deviation, in surprise units (standard-normal
  // quantiles): a perfectly regular stream still gives finite scores. Requires > 0.
  // Default: 0.05.
  double min_std = 0.05;
  // flagged = p_value < alpha. Requires 0 < alpha < 1. Default: 0.01.
  double alpha = 0.01;

  void validate() const;
};
void to_json(nlohmann::json& j, const LikelihoodOptions& o);
void from_json(const nlohmann::json& j, LikelihoodOptions& o);

// Wraps an inner detector (any kind) and turns its p-values into an anomaly likelihood:
//
//   surprise s_t = normal_isf(p_t) of the inner detector's p-value (N(0, 1) when the inner
//                  p-values are uniform, as they are on normal data), clipped to [-8, 8];
//   m_t = mean of the last short_window surprises (this point's included);
//   mu, sd = mean and standard deviation of the m of the long_window points before the
//            current short window (so autocorrelated surprises, as in seasonal streams, widen
//            sd instead of making every wobble look significant);
//   score = (m_t - mu) / sd,  p = P(Z > score).
//
// One spike among k ordinary points moves m by spike / k, so in a noisy stream it means little;
// a change that lasts moves every value of the short window, and the same shift in a calm stream
// (small sd) means much. So this is the stage for metric streams where single spikes are
// noise and the question is "did the behaviour change"; it is not for catching lone blips
// (the deviation policy wants those seen: keep it off for the Personalizer's detectors unless
// blips are noise for the application).
//
// Learning: update(x) records x's surprise (scored by the inner detector before it learns x),
// then the inner detector learns x. Score.contributions are the inner detector's.
// State: the inner detector's state, the options and the long window's values round-trip
// through save()/load() exactly. Owns the inner detector.
// Thread safety: as Detector.
class LikelihoodDetector final : public Detector {
 public:
  // Throws InvalidArgument for a null inner detector, ConfigError for invalid options.
  LikelihoodDetector(std::unique_ptr<Detector> inner, LikelihoodOptions options = {});

  std::string kind() const override { return "likelihood"; }
  std::size_t dim() const override { return inner_->dim(); }
  std::uint64_t n_seen() const override { return n_; }
  Score score(std::span<const double> x) const override;
  void update(std::span<const double> x) override;
  // Scores the inner detector once (score() then update() would score it twice).
  void score_and_update(std::span<const double> x, Score& out) override;
  void reset() override;
  nlohmann::json save() const override;
  // The inner detector is rebuilt from its saved state (restore_detector).
  void load(const nlohmann::json& state) override;
  std::unique_ptr<Detector> clone() const override;

  const Detector& inner() const { return *inner_; }
  const LikelihoodOptions& options() const { return options_; }

  // The surprise of an inner p-value: normal_isf(p) clipped to [-8, 8].
  static double surprise(double p_value);

 private:
  // The likelihood Score for a point whose inner score is `inner` (not yet recorded).
  Score judge(Score inner) const;
  double short_mean(double surprise_value) const;
  void record(double surprise_value);

  std::unique_ptr<Detector> inner_;
  LikelihoodOptions options_;
  std::uint64_t n_ = 0;
  // The newest short_window - 1 surprises, and the newest long_window + short_window - 1 short
  // means, oldest first.
  std::deque<double> values_;
  std::deque<double> means_;
};

}  // namespace oap
