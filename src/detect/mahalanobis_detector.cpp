#include "oap/detect/mahalanobis_detector.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "detect/state_header.hpp"
#include "oap/core/json_config.hpp"
#include "oap/detect/distributions.hpp"

namespace oap {
namespace {

nlohmann::json matrix_to_json(const Eigen::MatrixXd& m) {
  // Lower triangle, row by row: the only part the detector maintains.
  nlohmann::json out = nlohmann::json::array();
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j <= i; ++j) out.push_back(m(i, j));
  return out;
}

Eigen::MatrixXd matrix_from_json(JsonObjectReader& state, const std::string& key, std::size_t d) {
  auto v = state.numbers(key, d * (d + 1) / 2);
  Eigen::MatrixXd m = Eigen::MatrixXd::Zero(d, d);
  std::size_t k = 0;
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = 0; j <= i; ++j) m(i, j) = v[k++];
  return m;
}

Eigen::VectorXd vector_from_json(JsonObjectReader& state, const std::string& key, std::size_t d) {
  auto v = state.numbers(key, d);
  return Eigen::Map<Eigen::VectorXd>(v.data(), d);
}

std::vector<double> to_std(const Eigen::VectorXd& v) { return {v.data(), v.data() + v.size()}; }

}  // namespace

void MahalanobisOptions::validate() const {
  OAP_CHECK(forgetting > 0 && forgetting <= 1, ConfigError,
            "mahalanobis.forgetting must be in (0, 1], got " + std::to_string(forgetting));
  OAP_CHECK(shrinkage_amount >= 0 && shrinkage_amount <= 1, ConfigError,
            "mahalanobis.shrinkage must be \"ledoit_wolf\" or a number in [0, 1], got " +
                std::to_string(shrinkage_amount));
  OAP_CHECK(std::isfinite(min_variance) && min_variance > 0, ConfigError,
            "mahalanobis.min_variance must be > 0, got " + std::to_string(min_variance));
  OAP_CHECK(alpha > 0 && alpha < 1, ConfigError,
            "mahalanobis.alpha must be in (0, 1), got " + std::to_string(alpha));
  OAP_CHECK(min_history >= 2, ConfigError,
            "mahalanobis.min_history must be >= 2, got " + std::to_string(min_history));
  OAP_CHECK(refit_interval >= 1, ConfigError,
            "mahalanobis.refit_interval must be >= 1, got " + std::to_string(refit_interval));
}

void to_json(nlohmann::json& j, const MahalanobisOptions& o) {
  j = {{"forgetting", o.forgetting},
       {"min_variance", o.min_variance},
       {"small_sample_correction", o.small_sample_correction},
       {"alpha", o.alpha},
       {"min_history", o.min_history},
       {"refit_interval", o.refit_interval}};
  if (o.shrinkage == MahalanobisOptions::Shrinkage::kLedoitWolf) {
    j["shrinkage"] = "ledoit_wolf";
  } else {
    j["shrinkage"] = o.shrinkage_amount;
  }
}

void from_json(const nlohmann::json& j, MahalanobisOptions& o) {
  JsonObjectReader r(j, "mahalanobis");
  o.forgetting = r.get<double>("forgetting", o.forgetting);
  const nlohmann::json& s = r.raw("shrinkage");
  if (s.is_string()) {
    OAP_CHECK(s.get<std::string>() == "ledoit_wolf", ConfigError,
              "mahalanobis.shrinkage must be \"ledoit_wolf\" or a number in [0, 1], got \"" +
                  s.get<std::string>() + "\"");
    o.shrinkage = MahalanobisOptions::Shrinkage::kLedoitWolf;
  } else if (s.is_number()) {
    o.shrinkage = MahalanobisOptions::Shrinkage::kFixed;
    o.shrinkage_amount = s.get<double>();
  } else if (!s.is_null()) {
    OAP_THROW(ConfigError, "mahalanobis.shrinkage must be \"ledoit_wolf\" or a number in [0, 1]");
  }
  o.min_variance = r.get<double>("min_variance", o.min_variance);
  o.small_sample_correction = r.get<bool>("small_sample_correction", o.small_sample_correction);
  o.alpha = r.get<double>("alpha", o.alpha);
  o.min_history = r.get<std::size_t>("min_history", o.min_history);
  o.refit_interval = r.get<std::size_t>("refit_interval", o.refit_interval);
  r.finish();
  o.validate();
}

MahalanobisDetector::MahalanobisDetector(std::size_t dim, MahalanobisOptions options)
    : dim_(dim), options_(options) {
  OAP_CHECK(dim > 0, InvalidArgument, "mahalanobis: dimension must be >= 1");
  options_.validate();
  reset();
}

void MahalanobisDetector::reset() {
  const auto d = static_cast<Eigen::Index>(dim_);
  n_ = 0;
  w_ = w2_ = t2_ = t4_ = 0;
  offset_ = mean_ = s1_ = u3_ = Eigen::VectorXd::Zero(d);
  scatter_ = p2_ = Eigen::MatrixXd::Zero(d, d);
  y_ = delta_ = Eigen::VectorXd::Zero(d);
  refit();
}

Eigen::MatrixXd MahalanobisDetector::covariance() const {
  double denom = w_ - (w_ > 0 ? w2_ / w_ : 0.0);  // W - W2/W: n - 1 without forgetting
  if (n_ < 2 || denom <= 0) return Eigen::MatrixXd::Zero(dim_, dim_);
  Eigen::MatrixXd s = scatter_.selfadjointView<Eigen::Lower>();
  return s / denom;
}

double MahalanobisDetector::ledoit_wolf_amount(const Eigen::MatrixXd& s) const {
  // scikit-learn's ledoit_wolf_shrinkage on centered data, with the fourth-moment sum
  // sum_k w ||y_k - m||^4 expanded into the raw moments kept by update().
  const double p = static_cast<double>(dim_), n = w_;
  if (n_ < 2 || n <= 0) return 1.0;
  Eigen::MatrixXd emp = s;  // biased covariance scatter / W
  const double mu = emp.trace() / p;
  const Eigen::VectorXd& m = mean_;
  const double mm = m.squaredNorm();
  double m_p_m = m.dot(p2_.selfadjointView<Eigen::Lower>() * m);
  double fourth =
      t4_ + 4 * m_p_m + n * mm * mm - 4 * m.dot(u3_) + 2 * mm * t2_ - 4 * mm * m.dot(s1_);
  fourth = std::max(fourth, 0.0);
  double emp_sq = emp.squaredNorm();
  double beta = (fourth / n - emp_sq) / (p * n);
  double delta = (emp_sq - 2 * mu * emp.trace() + p * mu * mu) / p;
  beta = std::max(0.0, std::min(beta, delta));
  return delta > 0 ? beta / delta : 0.0;
}

void MahalanobisDetector::refit() {
  const auto d = static_cast<Eigen::Index>(dim_);
  Eigen::MatrixXd s = covariance();
  if (options_.shrinkage == MahalanobisOptions::Shrinkage::kFixed) {
    shrinkage_ = options_.shrinkage_amount;
  } else {
    Eigen::MatrixXd biased =
        n_ >= 2 ? Eigen::MatrixXd(Eigen::MatrixXd(scatter_.selfadjointView<Eigen::Lower>()) / w_)
                : Eigen::MatrixXd::Zero(d, d);
    shrinkage_ = ledoit_wolf_amount(biased);
  }
  const double mu = s.trace() / static_cast<double>(dim_);
  sigma_ = (1.0 - shrinkage_) * s;
  sigma_.diagonal().array() += shrinkage_ * mu + options_.min_variance;
  factorize();
  since_refit_ = 0;
}

void MahalanobisDetector::factorize() {
  llt_.compute(sigma_);
  const auto d = static_cast<Eigen::Index>(dim_);
  l_inv_ = Eigen::MatrixXd::Identity(d, d);
  if (llt_.info() == Eigen::Success) llt_.matrixL().solveInPlace(l_inv_);
}

bool MahalanobisDetector::refit_due() const {
  // Refit when the points since the last refit carry >= 1/64 of the effective weight (always
  // while n_eff < 64), or after refit_interval updates, whichever comes first.
  constexpr double kStaleFraction = 64.0;
  return since_refit_ >= options_.refit_interval ||
         static_cast<double>(since_refit_) * kStaleFraction >= effective_n();
}

Score MahalanobisDetector::score(std::span<const double> x) const {
  check_point(x, dim_, "mahalanobis");
  Score s;
  s.contributions.assign(dim_, 0.0);
  if (n_ < options_.min_history || llt_.info() != Eigen::Success) return s;
  // diff and Sigma^-1 diff live on the stack for d <= kStackDim: score() is the hot path and
  // must not allocate beyond the Score it returns.
  constexpr std::size_t kStackDim = 64;
  double stack[3 * kStackDim];
  std::vector<double> heap;
  double* buf = stack;
  if (dim_ > kStackDim) {
    heap.resize(3 * dim_);
    buf = heap.data();
  }
  const auto d = static_cast<Eigen::Index>(dim_);
  Eigen::Map<const Eigen::VectorXd> xv(x.data(), d);
  Eigen::Map<Eigen::VectorXd> diff(buf, d), y(buf + dim_, d), z(buf + 2 * dim_, d);
  diff = (xv - offset_) - mean_;
  // With Sigma = L L': y = L^-1 diff, D^2 = |y|^2 (never negative), Sigma^-1 diff = L^-T y.
  // Dense products with L^-1 (kept by refit) vectorize; triangular solves are a dependency
  // chain and made score() 3x slower at d = 16.
  y.noalias() = l_inv_ * diff;
  double d2 = std::min(y.squaredNorm(), 1e300);
  z.noalias() = l_inv_.transpose() * y;  // Sigma^-1 diff
  for (std::size_t i = 0; i < dim_; ++i) {
    double c = diff[i] * z[i];
    s.contributions[i] = std::isfinite(c) ? c : (c > 0 ? 1e300 : -1e300);
  }
  s.score = d2;
  const double p = static_cast<double>(dim_), n = effective_n();
  if (options_.small_sample_correction && n > p + 1) {
    // New point independent of the n-point sample: (n - p) / (p (n - 1)) * n/(n+1) D^2 ~ F.
    double f = d2 * (n / (n + 1.0)) * (n - p) / (p * (n - 1.0));
    s.p_value = f_sf(std::min(f, 1e300), p, n - p);
  } else {
    s.p_value = chi_square_sf(d2, p);
  }
  s.p_value = std::clamp(s.p_value, 0.0, 1.0);
  s.flagged = s.p_value < options_.alpha;
  return s;
}

void MahalanobisDetector::update(std::span<const double> x) {
  check_point(x, dim_, "mahalanobis");
  Eigen::Map<const Eigen::VectorXd> xv(x.data(), static_cast<Eigen::Index>(dim_));
  if (n_ == 0) offset_ = xv;
  ++n_;
  const double lambda = options_.forgetting;
  Eigen::VectorXd& y = y_;
  Eigen::VectorXd& delta = delta_;
  y = xv - offset_;
  double w_old = lambda * w_;
  w_ = w_old + 1.0;
  w2_ = lambda * lambda * w2_ + 1.0;
  delta = y - mean_;
  mean_ += delta / w_;
  // Weighted Welford: scatter = lambda scatter + (y - m_old)(y - m_new)', and
  // y - m_new = delta * w_old / w_: a symmetric rank-1 update of the lower triangle. Written
  // as plain column loops (fused with the Ledoit-Wolf moment p2 += y y'): Eigen's dynamic-size
  // rankUpdate was a quarter of the per-event cost at d = 16.
  const bool lw = options_.shrinkage == MahalanobisOptions::Shrinkage::kLedoitWolf;
  const double c = w_old / w_;
  const std::size_t d = dim_;
  for (std::size_t j = 0; j < d; ++j) {
    double* sc = scatter_.col(static_cast<Eigen::Index>(j)).data();
    const double* dv = delta.data();
    const double dj = c * dv[j];
    for (std::size_t i = j; i < d; ++i) sc[i] = lambda * sc[i] + dj * dv[i];
    if (lw) {
      double* pc = p2_.col(static_cast<Eigen::Index>(j)).data();
      const double* yv = y.data();
      const double yj = yv[j];
      for (std::size_t i = j; i < d; ++i) pc[i] = lambda * pc[i] + yj * yv[i];
    }
  }
  if (lw) {
    if (lambda != 1.0) {
      s1_ *= lambda;
      u3_ *= lambda;
      t2_ *= lambda;
      t4_ *= lambda;
    }
    double yy = y.squaredNorm();
    s1_ += y;
    u3_ += yy * y;
    t2_ += yy;
    t4_ += yy * yy;
  }
  ++since_refit_;
  if (refit_due()) refit();
}

nlohmann::json MahalanobisDetector::save() const {
  return {{"kind", kind()},
          {"dim", dim_},
          {"options", options_},
          {"n", n_},
          {"w", w_},
          {"w2", w2_},
          {"offset", to_std(offset_)},
          {"mean", to_std(mean_)},
          {"scatter", matrix_to_json(scatter_)},
          {"s1", to_std(s1_)},
          {"p2", matrix_to_json(p2_)},
          {"u3", to_std(u3_)},
          {"t2", t2_},
          {"t4", t4_},
          {"since_refit", since_refit_},
          {"shrinkage", shrinkage_},
          {"sigma", matrix_to_json(sigma_)}};
}

void MahalanobisDetector::load(const nlohmann::json& state) {
  JsonObjectReader r(state, "mahalanobis");
  detail::check_state_header(r, kind(), dim_);
  auto options = r.require<MahalanobisOptions>("options");
  MahalanobisDetector fresh(dim_, options);
  fresh.n_ = r.require<std::uint64_t>("n");
  fresh.w_ = r.require<double>("w");
  fresh.w2_ = r.require<double>("w2");
  fresh.offset_ = vector_from_json(r, "offset", dim_);
  fresh.mean_ = vector_from_json(r, "mean", dim_);
  fresh.scatter_ = matrix_from_json(r, "scatter", dim_);
  fresh.s1_ = vector_from_json(r, "s1", dim_);
  fresh.p2_ = matrix_from_json(r, "p2", dim_);
  fresh.u3_ = vector_from_json(r, "u3", dim_);
  fresh.t2_ = r.require<double>("t2");
  fresh.t4_ = r.require<double>("t4");
  OAP_CHECK(fresh.w_ >= 0 && fresh.w2_ >= 0 && (fresh.n_ == 0) == (fresh.w_ == 0), ConfigError,
            "mahalanobis: inconsistent weights in the state (n, w, w2)");
  if (state.contains("sigma")) {
    // The covariance in use may lag the moments (refit_interval): restore it as saved.
    fresh.since_refit_ = r.require<std::uint64_t>("since_refit");
    fresh.shrinkage_ = r.require<double>("shrinkage");
    fresh.sigma_ = matrix_from_json(r, "sigma", dim_);
    fresh.sigma_ = Eigen::MatrixXd(fresh.sigma_.selfadjointView<Eigen::Lower>());
    fresh.factorize();
    OAP_CHECK(fresh.llt_.info() == Eigen::Success, ConfigError,
              "mahalanobis.sigma: not positive definite");
  } else {
    fresh.refit();  // a state from before refit_interval existed
  }
  *this = std::move(fresh);
}

std::unique_ptr<Detector> MahalanobisDetector::clone() const {
  return std::make_unique<MahalanobisDetector>(*this);
}

}  // namespace oap
