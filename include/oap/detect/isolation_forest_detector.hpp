#pragma once
// IsolationForestDetector: a streaming isolation forest over a sliding window of recent points.

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <random>
#include <utility>
#include <vector>

#include "oap/detect/detector.hpp"
#include "oap/detect/score_calibrator.hpp"

namespace oap {

struct IsolationForestOptions {
  // Trees in the forest. Requires 1..10000. Default: 100.
  std::size_t n_trees = 100;
  // Recent points kept; trees are built from them. Requires 2..1000000. Default: 256.
  std::size_t window = 256;
  // Points drawn (without replacement) from the window to build one tree (psi). Requires
  // 2 <= sample_size <= window. Default: 256.
  std::size_t sample_size = 256;
  // One tree is rebuilt from the current window every this many updates, oldest first, so the
  // forest follows the window without a full refit. 0 = max(1, window / n_trees), i.e. the
  // whole forest turns over about once per window. Default: 0.
  std::size_t replace_every = 0;
  // Points needed before the forest is first built; score() is neutral (score 0, p 1) before.
  // Requires 2 <= min_history <= window. Default: 32.
  std::size_t min_history = 32;
  // Seed of the forest's random numbers; the same seed and stream give the same forest.
  // Default: 42.
  std::uint64_t seed = 42;
  // flagged = p_value < alpha. Requires 0 < alpha < 1. Default: 0.01.
  double alpha = 0.01;
  // How raw scores become p-values: the empirical distribution of the scores of the points
  // the detector was updated with (each scored just before it was learned).
  ScoreCalibratorOptions calibration{};

  void validate() const;
};
void to_json(nlohmann::json& j, const IsolationForestOptions& o);
void from_json(const nlohmann::json& j, IsolationForestOptions& o);

// Average path length of an unsuccessful search in a binary search tree of n points:
// c(n) = 2 H(n-1) - 2(n-1)/n with H(i) ~ ln(i) + 0.5772156649; c(1) = 0, c(2) = 1.
double isolation_path_length(double n);

// Isolation forest (Liu, Ting & Zhou 2008) on a stream. score = 2^(-E[h(x)] / c(psi)) in (0, 1]:
// ~1 isolated at once, ~0.5 or less ordinary. p_value from the detector's calibrator (1 until
// it holds calibration.min_scores scores). Score.contributions[i] = the share of the splits on
// x's paths that used feature i, averaged over trees (sums to 1, or 0 if no split was made):
// the features that isolated the point.
//
// Deterministic: the forest, its random state and the window are all part of save(), so a
// restored detector continues exactly.
// Thread safety: as Detector. score_batch walks tree by tree for locality.
class IsolationForestDetector final : public Detector {
 public:
  IsolationForestDetector(std::size_t dim, IsolationForestOptions options = {});

  std::string kind() const override { return "isolation_forest"; }
  std::size_t dim() const override { return dim_; }
  std::uint64_t n_seen() const override { return n_; }
  Score score(std::span<const double> x) const override;
  void score_into(std::span<const double> x, Score& out) const override;
  void update(std::span<const double> x) override;
  // Both learn from x's raw score (the calibrator's history) without walking the trees again.
  void score_and_update(std::span<const double> x, Score& out) override;
  void update_scored(std::span<const double> x, const Score& scored) override;
  std::vector<Score> score_batch(std::span<const double> rows) const override;
  void reset() override;
  nlohmann::json save() const override;
  void load(const nlohmann::json& state) override;
  std::unique_ptr<Detector> clone() const override;

  const IsolationForestOptions& options() const { return options_; }
  // Trees built so far (0 before min_history points).
  std::size_t trees_built() const { return trees_.size(); }
  // Tree rebuilds so far (initial build included).
  std::uint64_t rebuilds() const { return rebuilds_; }
  // E[h(x)] over the trees (path length including the c(size) leaf adjustment).
  double mean_path_length(std::span<const double> x) const;

 private:
  // 16 bytes, so four share a cache line: scoring is a walk of dependent loads.
  struct Node {
    std::int32_t feature = -1;  // -1: leaf
    std::int32_t link = 0;      // internal: the left child (the right is link + 1); leaf: the
                                // number of sample points that reached it
    double split = 0.0;         // go left when x[feature] < split
  };
  struct Tree {
    std::vector<Node> nodes;
    double norm = 1.0;  // c(psi) of the sample the tree was built on
  };

  Tree build_tree();
  // The smallest and largest value of window column `column` over the given window rows.
  std::pair<double, double> column_range(const std::uint32_t* rows, std::size_t count,
                                         std::size_t column) const;
  // Learns x (checked), whose raw score on the current trees is raw (unused before the first
  // trees): the calibrator, the window, the tree replacement.
  void learn(std::span<const double> x, double raw);
  // Path length of x in tree t; when contributions (size dim_) is non-null, adds 1/depth to
  // the entry of each split's feature on the path.
  double path_length(const Tree& t, const double* x, double* contributions) const;
  double raw_score(std::span<const double> x, std::vector<double>* contributions) const;
  std::size_t replace_every() const;

  std::size_t dim_;
  IsolationForestOptions options_;
  std::uint64_t n_ = 0;
  std::uint64_t rebuilds_ = 0;
  std::vector<double> window_;  // ring buffer, up to options_.window rows of dim_
  std::size_t window_rows_ = 0, window_next_ = 0;
  std::vector<Tree> trees_;
  std::size_t next_tree_ = 0, since_replace_ = 0;
  std::mt19937_64 rng_;
  ScoreCalibrator calibrator_;
};

}  // namespace oap
