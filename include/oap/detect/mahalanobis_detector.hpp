#pragma once
// MahalanobisDetector: distance of a point from the user's running mean, in the metric of the
// user's (shrunk) running covariance.

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>

#include "oap/detect/detector.hpp"

namespace oap {

struct MahalanobisOptions {
  enum class Shrinkage {
    kLedoitWolf,  // amount estimated from the data (Ledoit & Wolf 2004, as scikit-learn)
    kFixed,       // amount = shrinkage_amount
  };
  // Weight of the past per new point: every update multiplies earlier weights by this, so
  // 1 keeps all history and 0.99 remembers ~100 points. Requires 0 < forgetting <= 1.
  // Default: 1.
  double forgetting = 1.0;
  // JSON "shrinkage": "ledoit_wolf" or a number in [0, 1]. Default: ledoit_wolf.
  Shrinkage shrinkage = Shrinkage::kLedoitWolf;
  // Covariance used = (1 - a) S + a (tr(S)/d) I. Requires 0 <= a <= 1. Default: 0.1 (used
  // only when shrinkage is fixed).
  double shrinkage_amount = 0.1;
  // A ridge added to the diagonal (feature units squared) so constant features and a single
  // point still give a positive-definite matrix. Requires > 0. Default: 1e-9.
  double min_variance = 1e-9;
  // Use Hotelling's T^2 / F(d, n - d) tail instead of chi-square(d) while the effective
  // sample size n is small (applied when n > d + 1), which stops few-point histories from
  // over-flagging. Default: true.
  bool small_sample_correction = true;
  // flagged = p_value < alpha. Requires 0 < alpha < 1. Default: 0.01.
  double alpha = 0.01;
  // Points needed before score() judges; before that it returns score 0, p-value 1.
  // Requires >= 2. Default: 2.
  std::size_t min_history = 2;
  // Most updates between two refits of the shrunk covariance and its Cholesky factor (the
  // O(d^3) step). A refit also happens whenever the updates since the last one reach 1/64 of
  // the effective sample size, so short histories refit on every update and the covariance
  // in use never lags the data by more than ~1.6% of its weight. The mean is always current.
  // 1 = refit on every update (exact, O(d^3) per update). Requires >= 1. Default: 64 (a refit
  // at d = 16 costs ~5 us, ~5x a score + update).
  std::size_t refit_interval = 64;

  void validate() const;
};
void to_json(nlohmann::json& j, const MahalanobisOptions& o);
void from_json(const nlohmann::json& j, MahalanobisOptions& o);

// score = squared Mahalanobis distance D^2 = (x - m)' Sigma^-1 (x - m), with m and the
// covariance from a weighted multivariate Welford recurrence (forgetting factor) and Sigma the
// shrunk covariance plus ridge. p_value from chi-square(d) or the F correction.
// Score.contributions[i] = (x - m)_i (Sigma^-1 (x - m))_i; they sum to D^2 (a feature that
// breaks a correlation can contribute even if its own value is ordinary; entries may be < 0).
//
// Sigma (with its shrinkage amount and Cholesky factor) is the one of the last refit (see
// MahalanobisOptions::refit_interval); it is part of the saved state, so a restored detector
// scores bit for bit like the original.
//
// Cost: score O(d^2); update O(d^2) plus an O(d^3) refit at most every refit_interval updates
// (every update while the effective sample size is below 64); memory O(d^2).
// Thread safety: as Detector.
class MahalanobisDetector final : public Detector {
 public:
  MahalanobisDetector(std::size_t dim, MahalanobisOptions options = {});

  std::string kind() const override { return "mahalanobis"; }
  std::size_t dim() const override { return dim_; }
  std::uint64_t n_seen() const override { return n_; }
  Score score(std::span<const double> x) const override;
  void update(std::span<const double> x) override;
  void reset() override;
  nlohmann::json save() const override;
  void load(const nlohmann::json& state) override;
  std::unique_ptr<Detector> clone() const override;

  const MahalanobisOptions& options() const { return options_; }
  // The running mean (feature units).
  Eigen::VectorXd mean() const { return offset_ + mean_; }
  // The unbiased weighted sample covariance S (before shrinkage); zero before 2 points.
  Eigen::MatrixXd covariance() const;
  // The covariance actually used: (1 - a) S + a mu I + min_variance I, with S and a as of the
  // last refit.
  const Eigen::MatrixXd& shrunk_covariance() const { return sigma_; }
  // Updates since Sigma was last refit (0 right after a refit).
  std::uint64_t updates_since_refit() const { return since_refit_; }
  // The shrinkage amount a in use.
  double shrinkage() const { return shrinkage_; }
  // Kish effective sample size (sum w)^2 / sum w^2; equals n_seen() without forgetting.
  double effective_n() const { return w2_ > 0 ? w_ * w_ / w2_ : 0.0; }

 private:
  void refit();
  bool refit_due() const;
  void factorize();
  double ledoit_wolf_amount(const Eigen::MatrixXd& s) const;

  std::size_t dim_;
  MahalanobisOptions options_;
  std::uint64_t n_ = 0;
  double w_ = 0, w2_ = 0;    // sum of weights, sum of squared weights
  Eigen::VectorXd offset_;   // first point; stats are of y = x - offset
  Eigen::VectorXd mean_;     // weighted mean of y
  Eigen::MatrixXd scatter_;  // sum w (y - mean)(y - mean)', lower triangle maintained
  // Raw weighted moments of y for Ledoit-Wolf: sum w y, sum w y y' (lower), sum w |y|^2 y,
  // sum w |y|^2, sum w |y|^4.
  Eigen::VectorXd s1_;
  Eigen::MatrixXd p2_;
  Eigen::VectorXd u3_;
  double t2_ = 0, t4_ = 0;
  // Set by refit() and saved with the state (they may lag the moments above).
  std::uint64_t since_refit_ = 0;
  double shrinkage_ = 0;
  Eigen::MatrixXd sigma_;
  // Derived from sigma_ by factorize() (not saved): Sigma = L L' and L^-1 (dense, zero above
  // the diagonal).
  Eigen::LLT<Eigen::MatrixXd> llt_;
  Eigen::MatrixXd l_inv_;
  // Scratch for update(), so that it does not allocate.
  Eigen::VectorXd y_, delta_;
};

}  // namespace oap
