#pragma once
// ZScoreDetector: per-feature standardized deviations from the user's running mean.

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <vector>

#include "oap/detect/detector.hpp"

namespace oap {

struct ZScoreOptions {
  enum class Mode {
    kWelford,  // mean/variance over all history (exact, Welford's recurrence)
    kEwma,     // exponentially weighted mean/variance; follows slow drift
  };
  enum class Combine {
    kMax,         // score = max_i |z_i|; p = Sidak-corrected two-sided normal p of that max
    kSumSquares,  // score = sum_i z_i^2; p = chi-square(d) upper tail
  };

  // "welford" | "ewma". Default: welford.
  Mode mode = Mode::kWelford;
  // EWMA half-life in events: an event's weight halves after this many newer ones. Requires
  // > 0. Used in ewma mode only. Default: 100.
  double half_life = 100.0;
  // Use median and MAD (scaled by 1.4826 to estimate sigma) over the last robust_window points
  // instead of mean and standard deviation; one earlier outlier then does not mask the next.
  // Default: false.
  bool robust = false;
  // Points in the robust window. Requires 3..65536. Default: 101.
  std::size_t robust_window = 101;
  // "max" | "sum_squares". Default: max.
  Combine combine = Combine::kMax;
  // flagged = p_value < alpha. Requires 0 < alpha < 1. Default: 0.01.
  double alpha = 0.01;
  // Points needed before a score means anything; before that score() returns score 0,
  // p-value 1. Requires >= 2. Default: 2.
  std::size_t min_history = 2;
  // Floor on the standard deviation (feature units), so a constant feature gives finite
  // z-scores: 0 for the same value, huge (and flagged) for any other. Requires > 0.
  // Default: 1e-9.
  double min_std = 1e-9;

  void validate() const;
};
void to_json(nlohmann::json& j, const ZScoreOptions& o);
void from_json(const nlohmann::json& j, ZScoreOptions& o);

// Per-feature z-scores z_i = (x_i - center_i) / scale_i, combined over features.
// center/scale are mean/std (Welford or EWMA) or median/1.4826*MAD (robust).
// Score.contributions[i] is the signed z_i.
//
// Numerics: every feature is stored relative to the first value seen (an offset), so values
// near 1e9 with unit spread lose no precision, and Welford's recurrence keeps 1e8 points stable.
//
// Thread safety: as Detector (const methods concurrent, non-const need synchronization).
class ZScoreDetector final : public Detector {
 public:
  // Throws InvalidArgument for dim == 0 and ConfigError for invalid options.
  ZScoreDetector(std::size_t dim, ZScoreOptions options = {});

  std::string kind() const override { return "zscore"; }
  std::size_t dim() const override { return dim_; }
  std::uint64_t n_seen() const override { return n_; }
  Score score(std::span<const double> x) const override;
  // Allocation-free once out has held a Score of this dim.
  void score_into(std::span<const double> x, Score& out) const override;
  void update(std::span<const double> x) override;
  // One check of x and one pass for the score and the update.
  void score_and_update(std::span<const double> x, Score& out) override;
  void reset() override;
  nlohmann::json save() const override;
  void load(const nlohmann::json& state) override;
  std::unique_ptr<Detector> clone() const override;

  const ZScoreOptions& options() const { return options_; }
  // The current center (mean, EWMA mean or median) of feature i, in feature units.
  double center(std::size_t i) const;
  // The current scale (standard deviation or robust sigma) of feature i, before the floor.
  double scale(std::size_t i) const;

 private:
  void refresh_robust();
  enum class Standardized { kDone, kNeutral, kNotFinite };
  // The first half of score_into, checking x on the way: throws for a wrong dimension. kDone:
  // out.contributions and out.score are set, finish_score() adds the p-value and flag.
  // kNeutral: too little history, out is the complete neutral score. kNotFinite: a feature is
  // not finite, out is meaningless (throw_not_finite names the feature).
  Standardized standardize_checked(std::span<const double> x, Score& out) const;
  void finish_score(Score& out) const;
  [[noreturn]] void throw_not_finite(std::span<const double> x) const;
  // update without checking x (the caller did).
  void update_unchecked(std::span<const double> x);
  // Recomputes inv_scale_ from the statistics (after update, reset and load).
  void refresh_scales();

  std::size_t dim_;
  ZScoreOptions options_;
  double ewma_rate_;  // 1 - 2^(-1/half_life)
  std::uint64_t n_ = 0;
  std::vector<double> offset_;  // the first point; all stats are of x - offset
  std::vector<double> mean_;    // Welford/EWMA mean of x - offset
  std::vector<double> m2_;      // Welford: sum of squared deviations; EWMA: variance
  // Robust mode: ring buffer of x - offset, robust_window rows of dim_, and its median/MAD.
  std::vector<double> window_;
  std::size_t window_pos_ = 0;
  std::vector<double> median_, mad_;
  // 1 / max(scale(i), min_std), to ~2e-14 relative (refresh_scales): derived from the state
  // above, never saved, so score() is a multiply per feature.
  std::vector<double> inv_scale_;
};

}  // namespace oap
