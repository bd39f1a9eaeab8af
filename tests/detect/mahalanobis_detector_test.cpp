#include "oap/detect/mahalanobis_detector.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "oap/core/error.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;

MahalanobisOptions plain() {
  MahalanobisOptions o;
  o.shrinkage = MahalanobisOptions::Shrinkage::kFixed;
  o.shrinkage_amount = 0.0;
  o.min_variance = 1e-14;
  o.small_sample_correction = false;
  return o;
}

MahalanobisDetector four_points(MahalanobisOptions o) {
  MahalanobisDetector d(2, o);
  for (auto p : {std::vector<double>{0, 0}, {2, 1}, {4, 5}, {2, 2}}) d.update(p);
  return d;
}

TEST(MahalanobisDetector, DistanceWithHandComputedCovariance) {
  // Mean (2, 2); S = [[8/3, 10/3], [10/3, 14/3]]; S^-1 = [[3.5, -2.5], [-2.5, 2]].
  MahalanobisDetector d = four_points(plain());
  EXPECT_NEAR(d.mean()[0], 2.0, 1e-15);
  EXPECT_NEAR(d.covariance()(0, 1), 10.0 / 3.0, 1e-14);
  EXPECT_NEAR(d.covariance()(1, 1), 14.0 / 3.0, 1e-14);
  Score s = d.score(std::vector<double>{3, 1});  // diff (1, -1)
  EXPECT_NEAR(s.score, 10.5, 1e-9);
  EXPECT_NEAR(s.contributions[0], 6.0, 1e-9);          // 1 * (3.5 + 2.5)
  EXPECT_NEAR(s.contributions[1], 4.5, 1e-9);          // -1 * (-2.5 - 2)
  EXPECT_NEAR(s.p_value, std::exp(-10.5 / 2), 1e-12);  // chi-square(2)
}

TEST(MahalanobisDetector, SmallSampleCorrectionUsesF) {
  MahalanobisOptions o = plain();
  o.small_sample_correction = true;
  MahalanobisDetector d = four_points(o);
  // n = 4, p = 2: F = D^2 * n/(n+1) * (n-p)/(p(n-1)) = 10.5 * 0.8 / 3 = 2.8 ~ F(2, 2),
  // whose tail is 1 / (1 + x).
  EXPECT_NEAR(d.score(std::vector<double>{3, 1}).p_value, 1.0 / 3.8, 1e-9);
}

TEST(MahalanobisDetector, FixedShrinkageTowardScaledIdentity) {
  MahalanobisOptions o = plain();
  o.shrinkage_amount = 0.5;
  MahalanobisDetector d = four_points(o);
  const double mu = (8.0 / 3 + 14.0 / 3) / 2;
  EXPECT_NEAR(d.shrunk_covariance()(0, 0), 0.5 * 8.0 / 3 + 0.5 * mu, 1e-12);
  EXPECT_NEAR(d.shrunk_covariance()(1, 0), 0.5 * 10.0 / 3, 1e-12);
  EXPECT_NEAR(d.shrunk_covariance()(1, 1), 0.5 * 14.0 / 3 + 0.5 * mu, 1e-12);
}

TEST(MahalanobisDetector, LedoitWolfMatchesBatchFormula) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g;
  const int n = 300, p = 5;
  Eigen::MatrixXd data(n, p);
  MahalanobisDetector d(p);  // default: Ledoit-Wolf
  for (int k = 0; k < n; ++k) {
    double common = g(rng);
    for (int j = 0; j < p; ++j) data(k, j) = 100.0 + (j + 1) * common + g(rng);
    std::vector<double> row(p);
    for (int j = 0; j < p; ++j) row[j] = data(k, j);
    d.update(row);
  }
  // scikit-learn's ledoit_wolf_shrinkage, written out on the full centered data.
  Eigen::MatrixXd x = data.rowwise() - data.colwise().mean();
  Eigen::MatrixXd emp = x.transpose() * x / n;
  double mu = emp.trace() / p;
  Eigen::MatrixXd x2 = x.array().square().matrix();
  double beta_ = (x2.transpose() * x2).sum();
  double delta_ = emp.array().square().sum();
  double beta = (beta_ / n - delta_) / (p * n);
  double delta = (delta_ - 2 * mu * emp.trace() + p * mu * mu) / p;
  double expected = std::min(beta, delta) / delta;
  EXPECT_GT(expected, 0.0);
  EXPECT_NEAR(d.shrinkage(), expected, 1e-9);
}

TEST(MahalanobisDetector, ForgettingWeighsRecentPoints) {
  MahalanobisOptions o = plain();
  o.forgetting = 0.9;
  MahalanobisDetector d(2, o);
  std::mt19937_64 rng(5);
  std::normal_distribution<double> g;
  std::vector<Eigen::Vector2d> pts;
  for (int k = 0; k < 60; ++k) {
    pts.emplace_back(g(rng) + k * 0.1, 2 * g(rng));
    d.update(std::vector<double>{pts.back()[0], pts.back()[1]});
  }
  double w = 0, w2 = 0;
  Eigen::Vector2d m = Eigen::Vector2d::Zero();
  for (int k = 0; k < 60; ++k) {
    double wk = std::pow(0.9, 59 - k);
    w += wk;
    w2 += wk * wk;
    m += wk * pts[k];
  }
  m /= w;
  Eigen::Matrix2d c = Eigen::Matrix2d::Zero();
  for (int k = 0; k < 60; ++k) c += std::pow(0.9, 59 - k) * (pts[k] - m) * (pts[k] - m).transpose();
  c /= (w - w2 / w);
  EXPECT_NEAR((d.mean() - m).norm(), 0.0, 1e-12);
  EXPECT_NEAR((d.covariance() - c).norm(), 0.0, 1e-11);
  EXPECT_NEAR(d.effective_n(), w * w / w2, 1e-9);
}

TEST(MahalanobisDetector, CatchesABrokenCorrelation) {
  MahalanobisDetector d(2);
  std::mt19937_64 rng(9);
  std::normal_distribution<double> g;
  for (int k = 0; k < 500; ++k) {
    double a = g(rng);
    d.update(std::vector<double>{a, a + 0.1 * g(rng)});
  }
  Score along = d.score(std::vector<double>{1.5, 1.5});
  Score across = d.score(std::vector<double>{1.5, -1.5});  // each value ordinary, pair is not
  EXPECT_FALSE(along.flagged);
  EXPECT_TRUE(across.flagged);
  EXPECT_GT(across.score, 100.0);
}

TEST(MahalanobisDetector, FalsePositiveRateMatchesAlpha) {
  MahalanobisDetector d(4);
  std::mt19937_64 rng(21);
  std::normal_distribution<double> g;
  auto draw = [&] { return std::vector<double>{g(rng), 3 * g(rng), g(rng) - 5, g(rng)}; };
  for (int k = 0; k < 5000; ++k) d.update(draw());
  int flagged = 0;
  for (int k = 0; k < 20000; ++k) flagged += d.score(draw()).flagged;
  EXPECT_NEAR(flagged / 20000.0, 0.01, 0.003);
}

TEST(MahalanobisDetector, SingularAndTinyHistoriesGiveFiniteScores) {
  MahalanobisDetector d(3);
  d.update(std::vector<double>{1, 1, 1});
  d.update(std::vector<double>{2, 2, 1});  // rank 1 covariance, third feature constant
  for (auto x : {std::vector<double>{1.5, 1.5, 1}, {0, 5, 1}, {1, 1, 2}}) {
    Score s = d.score(x);
    EXPECT_TRUE(std::isfinite(s.score));
    EXPECT_GE(s.p_value, 0.0);
    EXPECT_LE(s.p_value, 1.0);
    for (double c : s.contributions) EXPECT_TRUE(std::isfinite(c));
  }
  EXPECT_TRUE(d.score(std::vector<double>{1, 1, 2}).flagged);
  MahalanobisDetector fresh(3);
  EXPECT_EQ(fresh.score(std::vector<double>{1, 2, 3}).p_value, 1.0);
}

TEST(MahalanobisDetector, RoundTripIsExact) {
  MahalanobisOptions o;
  o.forgetting = 0.97;
  MahalanobisDetector a(3, o);
  std::mt19937_64 rng(13);
  std::normal_distribution<double> g(1e6, 2);
  auto draw = [&] { return std::vector<double>{g(rng), g(rng) * 0.5, g(rng) - 1e6}; };
  for (int i = 0; i < 40; ++i) a.update(draw());
  MahalanobisDetector b(3);
  b.load(nlohmann::json::parse(a.save().dump()));
  for (int i = 0; i < 10; ++i) {
    auto x = draw();
    Score sa = a.score(x), sb = b.score(x);
    EXPECT_EQ(sa.score, sb.score);
    EXPECT_EQ(sa.p_value, sb.p_value);
    EXPECT_EQ(sa.contributions, sb.contributions);
    a.update(x);
    b.update(x);
  }
  EXPECT_EQ(a.save(), b.save());
}

// Trains a default detector and an every-update-refit one on the same correlated stream.
std::pair<MahalanobisDetector, MahalanobisDetector> lazy_and_exact(int n, std::uint64_t seed) {
  MahalanobisOptions exact_options;
  exact_options.refit_interval = 1;
  MahalanobisDetector lazy(4), exact(4, exact_options);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  for (int k = 0; k < n; ++k) {
    double c = g(rng);
    std::vector<double> x{c + g(rng), 2 * c, g(rng) * 0.1 + 5, c - g(rng)};
    lazy.update(x);
    exact.update(x);
  }
  return {std::move(lazy), std::move(exact)};
}

TEST(MahalanobisDetector, RefitScheduleFollowsEffectiveSampleSize) {
  MahalanobisOptions o;
  o.refit_interval = 16;
  MahalanobisDetector d(2, o);
  std::mt19937_64 rng(4);
  std::normal_distribution<double> g;
  std::uint64_t max_lag = 0;
  for (int k = 1; k <= 2000; ++k) {
    d.update(std::vector<double>{g(rng), g(rng)});
    // While n < 64 every update refits; later the lag is bounded by n / 64 and by 16.
    if (k < 64) EXPECT_EQ(d.updates_since_refit(), 0u) << k;
    EXPECT_LE(d.updates_since_refit() * 64, static_cast<std::uint64_t>(k)) << k;
    max_lag = std::max(max_lag, d.updates_since_refit());
  }
  EXPECT_EQ(max_lag, 15u);
}

TEST(MahalanobisDetector, LazyRefitStaysCloseToExact) {
  auto [lazy, exact] = lazy_and_exact(3000, 17);
  // The moments are updated identically; only Sigma may lag, by < 3000 / 64 points.
  EXPECT_EQ(lazy.mean(), exact.mean());
  EXPECT_EQ(lazy.covariance(), exact.covariance());
  std::mt19937_64 rng(18);
  std::normal_distribution<double> g;
  for (int k = 0; k < 200; ++k) {
    std::vector<double> x{3 * g(rng), 3 * g(rng), g(rng) + 5, 3 * g(rng)};
    Score a = lazy.score(x), b = exact.score(x);
    EXPECT_NEAR(a.score / b.score, 1.0, 0.02) << k;
    EXPECT_NEAR(a.p_value, b.p_value, 0.01) << k;
  }
}

TEST(MahalanobisDetector, RoundTripBetweenRefitsIsExact) {
  auto [a, exact] = lazy_and_exact(1000, 23);
  a.update(std::vector<double>{0.5, 1, 5, 0.5});
  while (a.updates_since_refit() == 0) a.update(std::vector<double>{0.1, 0.2, 5.01, 0.1});
  MahalanobisDetector b(4);
  b.load(nlohmann::json::parse(a.save().dump()));
  EXPECT_EQ(b.updates_since_refit(), a.updates_since_refit());
  EXPECT_EQ(b.shrunk_covariance(), a.shrunk_covariance());
  std::mt19937_64 rng(24);
  std::normal_distribution<double> g;
  for (int i = 0; i < 100; ++i) {
    std::vector<double> x{g(rng), g(rng), 5 + g(rng), g(rng)};
    Score sa = a.score(x), sb = b.score(x);
    ASSERT_EQ(sa.score, sb.score);
    ASSERT_EQ(sa.p_value, sb.p_value);
    ASSERT_EQ(sa.contributions, sb.contributions);
    a.update(x);
    b.update(x);
  }
  EXPECT_EQ(a.save(), b.save());
}

TEST(MahalanobisDetector, StateWithoutSigmaRefitsOnLoad) {
  // States written before refit_interval existed carry only the moments: loading refits, so
  // the detector scores exactly as one that refits on every update.
  auto [lazy, exact] = lazy_and_exact(500, 29);
  nlohmann::json state = lazy.save();
  state.erase("sigma");
  state.erase("since_refit");
  state.erase("shrinkage");
  state["options"]["refit_interval"] = 1;
  MahalanobisDetector b(4);
  b.load(state);
  std::vector<double> x{1, -1, 5.2, 2};
  EXPECT_EQ(b.score(x).score, exact.score(x).score);
  EXPECT_EQ(b.shrinkage(), exact.shrinkage());
  state = lazy.save();
  state["sigma"][0] = -1.0;
  try {
    b.load(state);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("mahalanobis.sigma: not positive definite"));
  }
}

TEST(MahalanobisDetector, OptionsAndErrors) {
  auto o = nlohmann::json{{"shrinkage", 0.25}}.get<MahalanobisOptions>();
  EXPECT_EQ(o.shrinkage, MahalanobisOptions::Shrinkage::kFixed);
  EXPECT_EQ(o.shrinkage_amount, 0.25);
  EXPECT_EQ(nlohmann::json({{"shrinkage", "ledoit_wolf"}}).get<MahalanobisOptions>().shrinkage,
            MahalanobisOptions::Shrinkage::kLedoitWolf);
  try {
    nlohmann::json{{"shrinkage", "oas"}}.get<MahalanobisOptions>();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("got \"oas\""));
  }
  EXPECT_THROW(nlohmann::json({{"forgetting", 0.0}}).get<MahalanobisOptions>(), ConfigError);
  try {
    nlohmann::json{{"refit_interval", 0}}.get<MahalanobisOptions>();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("mahalanobis.refit_interval must be >= 1, got 0"));
  }
  MahalanobisDetector d(2);
  try {
    d.update(std::vector<double>{1, 2, 3});
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("mahalanobis: expected 2 features, got 3"));
  }
}

}  // namespace
}  // namespace oap
