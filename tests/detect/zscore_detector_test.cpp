#include "oap/detect/zscore_detector.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "oap/core/error.hpp"
#include "oap/detect/distributions.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;

void feed(Detector& d, const std::vector<std::vector<double>>& rows) {
  for (const auto& r : rows) d.update(r);
}

TEST(ZScoreDetector, WelfordMatchesHandComputedMeanAndVariance) {
  ZScoreDetector d(1);
  for (double v : {2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0}) d.update(std::vector<double>{v});
  EXPECT_EQ(d.n_seen(), 8u);
  EXPECT_DOUBLE_EQ(d.center(0), 5.0);
  EXPECT_DOUBLE_EQ(d.scale(0), std::sqrt(32.0 / 7.0));  // sample variance: 32 / (8 - 1)
  Score s = d.score(std::vector<double>{9.0});
  double z = 4.0 / std::sqrt(32.0 / 7.0);
  EXPECT_DOUBLE_EQ(s.score, z);
  EXPECT_DOUBLE_EQ(s.contributions[0], z);
  EXPECT_NEAR(s.p_value, std::erfc(z / std::sqrt(2.0)), 1e-15);
  EXPECT_FALSE(s.flagged);  // p ~ 0.06
  EXPECT_TRUE(d.score(std::vector<double>{20.0}).flagged);
}

TEST(ZScoreDetector, CombinesFeaturesByMaxOrSumOfSquares) {
  std::vector<std::vector<double>> rows = {{0, 10}, {2, 14}, {4, 12}};  // means 2, 12; sd 2, 2
  ZScoreDetector max_d(2);
  ZScoreOptions sq;
  sq.combine = ZScoreOptions::Combine::kSumSquares;
  ZScoreDetector sum_d(2, sq);
  feed(max_d, rows);
  feed(sum_d, rows);
  std::vector<double> x = {8, 9};  // z = 3, -1.5
  Score m = max_d.score(x);
  EXPECT_DOUBLE_EQ(m.score, 3.0);
  EXPECT_DOUBLE_EQ(m.contributions[1], -1.5);
  double p1 = std::erfc(3.0 / std::sqrt(2.0));
  EXPECT_NEAR(m.p_value, 1.0 - (1.0 - p1) * (1.0 - p1), 1e-15);  // Sidak for d = 2
  Score s = sum_d.score(x);
  EXPECT_DOUBLE_EQ(s.score, 9.0 + 2.25);
  EXPECT_NEAR(s.p_value, std::exp(-11.25 / 2.0), 1e-14);  // chi-square(2) tail is e^{-x/2}
}

TEST(ZScoreDetector, ScoreIntoEqualsScoreAndReusesTheBuffer) {
  // 19 features: the combined score is reduced in 4 lanes plus a tail; check it against a plain
  // loop over the contributions, for both combine rules.
  std::mt19937_64 rng(5);
  std::normal_distribution<double> g(3.0, 2.0);
  for (auto combine : {ZScoreOptions::Combine::kMax, ZScoreOptions::Combine::kSumSquares}) {
    ZScoreOptions o;
    o.combine = combine;
    ZScoreDetector d(19, o);
    std::vector<double> x(19);
    for (int i = 0; i < 200; ++i) {
      for (auto& v : x) v = g(rng);
      d.update(x);
    }
    Score into;
    into.contributions.reserve(19);
    const double* buffer = into.contributions.data();
    for (int i = 0; i < 50; ++i) {
      for (auto& v : x) v = g(rng) * (i % 7 == 0 ? 3.0 : 1.0);
      Score s = d.score(x);
      d.score_into(x, into);
      EXPECT_EQ(into.contributions.data(), buffer);  // no reallocation
      EXPECT_EQ(into.score, s.score);
      EXPECT_EQ(into.p_value, s.p_value);
      EXPECT_EQ(into.flagged, s.flagged);
      EXPECT_EQ(into.contributions, s.contributions);
      double max_abs = 0.0, sum_sq = 0.0;
      for (double z : s.contributions) {
        max_abs = std::max(max_abs, std::fabs(z));
        sum_sq += z * z;
      }
      if (combine == ZScoreOptions::Combine::kMax) {
        EXPECT_EQ(s.score, max_abs);
        EXPECT_NEAR(s.p_value / -std::expm1(19 * std::log1p(-std::erfc(max_abs / std::sqrt(2.0)))),
                    1.0, 1e-11);
      } else {
        EXPECT_NEAR(s.score, sum_sq, 1e-12 * sum_sq);
      }
    }
  }
}

TEST(ZScoreDetector, ScoreAndUpdateEqualsScoreThenUpdate) {
  for (int mode = 0; mode < 3; ++mode) {
    ZScoreOptions o;
    o.mode = mode == 1 ? ZScoreOptions::Mode::kEwma : ZScoreOptions::Mode::kWelford;
    o.robust = mode == 2;
    ZScoreDetector a(5, o), b(5, o);
    std::mt19937_64 rng(3);
    std::normal_distribution<double> g(10.0, 2.0);
    Score fused;
    for (int i = 0; i < 300; ++i) {
      std::vector<double> x(5);
      for (auto& v : x) v = g(rng);
      Score s = a.score(x);
      a.update(x);
      b.score_and_update(x, fused);
      ASSERT_EQ(fused.score, s.score) << i;
      ASSERT_EQ(fused.p_value, s.p_value) << i;
      ASSERT_EQ(fused.contributions, s.contributions) << i;
    }
    EXPECT_EQ(a.save(), b.save());
    // A bad point is refused and changes nothing.
    EXPECT_THROW(b.score_and_update(std::vector<double>{1, 2, 3, 4, std::nan("")}, fused),
                 InvalidArgument);
    EXPECT_EQ(a.save(), b.save());
  }
}

TEST(ZScoreDetector, LargeOffsetSmallSpreadKeepsPrecision) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0.0, 0.5);
  ZScoreDetector d(1);
  std::vector<double> values;
  for (int i = 0; i < 10000; ++i) {
    values.push_back(1e9 + noise(rng));
    d.update(std::vector<double>{values.back()});
  }
  // Two-pass reference in long double.
  long double sum = 0;
  for (double v : values) sum += v;
  long double mean = sum / values.size(), ss = 0;
  for (double v : values) ss += (v - mean) * (v - mean);
  double sd = std::sqrt(static_cast<double>(ss / (values.size() - 1)));
  EXPECT_NEAR(d.center(0), static_cast<double>(mean), 1e-6);
  EXPECT_NEAR(d.scale(0) / sd, 1.0, 1e-9);
  Score s = d.score(std::vector<double>{static_cast<double>(mean) + 2.0 * sd});
  EXPECT_NEAR(s.score, 2.0, 1e-6);
}

TEST(ZScoreDetector, HundredMillionPointsStayExact) {
  // x alternates 1e9 - 1, 1e9 + 1: mean 1e9, sample variance n / (n - 1).
  ZScoreDetector d(1);
  const std::uint64_t n = 100'000'000;
  std::vector<double> lo = {1e9 - 1.0}, hi = {1e9 + 1.0};
  for (std::uint64_t i = 0; i < n; i += 2) {
    d.update(lo);
    d.update(hi);
  }
  EXPECT_EQ(d.n_seen(), n);
  EXPECT_NEAR(d.center(0), 1e9, 1e-6);
  EXPECT_NEAR(d.scale(0), std::sqrt(double(n) / double(n - 1)), 1e-9);
}

TEST(ZScoreDetector, EwmaHalfLife) {
  ZScoreOptions o;
  o.mode = ZScoreOptions::Mode::kEwma;
  o.half_life = 10.0;
  ZScoreDetector d(1, o);
  for (int i = 0; i < 1000; ++i) d.update(std::vector<double>{0.0});
  for (int i = 0; i < 10; ++i) d.update(std::vector<double>{1.0});
  // After one half-life at the new level the mean is half way: 1 - 2^(-10/10).
  EXPECT_NEAR(d.center(0), 0.5, 1e-12);
  for (int i = 0; i < 10; ++i) d.update(std::vector<double>{1.0});
  EXPECT_NEAR(d.center(0), 0.75, 1e-12);
}

TEST(ZScoreDetector, EwmaStartsAsExactAverage) {
  ZScoreOptions o;
  o.mode = ZScoreOptions::Mode::kEwma;
  o.half_life = 1000.0;
  ZScoreDetector d(1, o);
  for (double v : {1.0, 2.0, 3.0, 6.0}) d.update(std::vector<double>{v});
  EXPECT_NEAR(d.center(0), 3.0, 1e-12);
  EXPECT_NEAR(d.scale(0), std::sqrt(3.5), 1e-12);  // population variance of {1,2,3,6}
}

TEST(ZScoreDetector, RobustIgnoresAnEarlierOutlier) {
  ZScoreOptions o;
  o.robust = true;
  o.robust_window = 9;
  ZScoreDetector d(1, o);
  for (double v : {1.0, 2.0, 3.0, 4.0, 1000.0, 5.0, 6.0, 7.0, 8.0})
    d.update(std::vector<double>{v});
  // Window {1..8, 1000}: median 5; |x - 5| = {4,3,2,1,995,0,1,2,3} -> MAD 2.
  EXPECT_DOUBLE_EQ(d.center(0), 5.0);
  EXPECT_DOUBLE_EQ(d.scale(0), 1.4826 * 2.0);
  EXPECT_DOUBLE_EQ(d.score(std::vector<double>{11.0}).score, 6.0 / (1.4826 * 2.0));
  // The window slides: after 9 more points of 0, the 1000 has left it.
  for (int i = 0; i < 9; ++i) d.update(std::vector<double>{0.0});
  EXPECT_DOUBLE_EQ(d.center(0), 0.0);
}

TEST(ZScoreDetector, ConstantFeatureGivesFiniteScores) {
  ZScoreDetector d(2);
  for (int i = 0; i < 50; ++i) d.update(std::vector<double>{3.0, double(i % 5)});
  Score same = d.score(std::vector<double>{3.0, 2.0});
  EXPECT_EQ(same.contributions[0], 0.0);
  EXPECT_FALSE(same.flagged);
  Score moved = d.score(std::vector<double>{3.5, 2.0});
  EXPECT_TRUE(std::isfinite(moved.score));
  EXPECT_GT(moved.score, 1e6);
  EXPECT_TRUE(moved.flagged);
  EXPECT_EQ(moved.p_value, 0.0);
}

TEST(ZScoreDetector, TooLittleHistoryIsNeutral) {
  ZScoreDetector d(3);
  Score s = d.score(std::vector<double>{1, 2, 3});
  EXPECT_EQ(s.score, 0.0);
  EXPECT_EQ(s.p_value, 1.0);
  EXPECT_FALSE(s.flagged);
  EXPECT_EQ(s.contributions.size(), 3u);
}

TEST(ZScoreDetector, RejectsWrongDimensionAndNonFinite) {
  ZScoreDetector d(3);
  d.update(std::vector<double>{1, 2, 3});
  try {
    d.update(std::vector<double>{1, 2});
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("zscore: expected 3 features, got 2"));
  }
  try {
    d.score(std::vector<double>{1, std::nan(""), 3});
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("feature 1 is not finite (nan)"));
  }
  EXPECT_THROW(d.update(std::vector<double>{1, 2, std::numeric_limits<double>::infinity()}),
               InvalidArgument);
  EXPECT_EQ(d.n_seen(), 1u);  // failed updates changed nothing
  EXPECT_THROW(ZScoreDetector(0), InvalidArgument);
}

TEST(ZScoreDetector, NonFiniteFeatureOnTheFastPathIsNamedAndNothingIsLearned) {
  // 6 features: 4 go through the vector loop, 2 through its tail; enough history that scoring
  // standardizes (and checks) x in one pass.
  ZScoreDetector d(6);
  for (int i = 0; i < 10; ++i) d.update(std::vector<double>{1.0 * i, 2, 3, 4, 5, -1.0 * i});
  const auto inf = std::numeric_limits<double>::infinity();
  for (std::size_t bad : {1u, 5u}) {
    std::vector<double> x = {1, 2, 3, 4, 5, 6};
    x[bad] = bad == 1 ? std::nan("") : -inf;
    Score s;
    try {
      d.score_and_update(x, s);
      FAIL() << "feature " << bad;
    } catch (const InvalidArgument& e) {
      EXPECT_THAT(e.what(), HasSubstr("zscore: feature " + std::to_string(bad) + " is not finite"));
    }
    EXPECT_THROW(d.score_into(x, s), InvalidArgument);
    EXPECT_THROW(d.score(x), InvalidArgument);
  }
  EXPECT_EQ(d.n_seen(), 10u);
  Score ok;
  d.score_and_update(std::vector<double>{1, 2, 3, 4, 5, 6}, ok);
  EXPECT_EQ(d.n_seen(), 11u);
}

TEST(ZScoreDetector, ContributionsMatchPlainFormulaAtEveryScale) {
  // z_i = (x_i - center_i) / max(scale_i, min_std) to 1e-13 relative, for 16 features (the
  // float-seeded reciprocal square root) with variances from tiny to huge, including ones
  // outside float's range (the exact fallback), and for 3 features (always exact).
  std::mt19937_64 rng(21);
  for (double spread : {1e-12, 1e-3, 1.0, 1e6, 1e17, 1e25}) {
    for (std::size_t dim : {16u, 3u}) {
      ZScoreOptions o;
      o.min_std = 1e-30;
      ZScoreDetector d(dim, o);
      std::normal_distribution<double> g(0.0, spread);
      std::vector<double> x(dim);
      for (int i = 0; i < 50; ++i) {
        for (std::size_t f = 0; f < dim; ++f) x[f] = 5.0 * spread + g(rng) * double(f + 1);
        d.update(x);
      }
      for (std::size_t f = 0; f < dim; ++f) x[f] = 5.0 * spread + g(rng) * 3.0;
      const Score s = d.score(x);
      for (std::size_t f = 0; f < dim; ++f) {
        const double expected = (x[f] - d.center(f)) / std::max(d.scale(f), o.min_std);
        EXPECT_NEAR(s.contributions[f] / expected, 1.0, 1e-13)
            << "spread " << spread << " dim " << dim << " feature " << f;
      }
    }
  }
}

TEST(ZScoreDetector, OptionsFromJsonValidate) {
  auto o = nlohmann::json{{"mode", "ewma"}, {"half_life", 5.0}, {"combine", "sum_squares"}}
               .get<ZScoreOptions>();
  EXPECT_EQ(o.mode, ZScoreOptions::Mode::kEwma);
  EXPECT_EQ(o.half_life, 5.0);
  try {
    nlohmann::json{{"mode", "fast"}}.get<ZScoreOptions>();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("zscore.mode must be \"welford\" or \"ewma\", got \"fast\""));
  }
  EXPECT_THROW(nlohmann::json({{"alpah", 0.1}}).get<ZScoreOptions>(), ConfigError);
  EXPECT_THROW(nlohmann::json({{"alpha", 1.5}}).get<ZScoreOptions>(), ConfigError);
  nlohmann::json back = o;
  EXPECT_EQ(back.get<ZScoreOptions>().half_life, 5.0);
}

class ZScoreRoundTrip : public ::testing::TestWithParam<int> {};

TEST_P(ZScoreRoundTrip, RestoredDetectorScoresIdentically) {
  ZScoreOptions o;
  o.mode = GetParam() == 1 ? ZScoreOptions::Mode::kEwma : ZScoreOptions::Mode::kWelford;
  o.robust = GetParam() == 2;
  o.robust_window = 7;
  ZScoreDetector a(3, o);
  std::mt19937_64 rng(11);
  std::normal_distribution<double> g(1e6, 3.3);
  auto draw = [&] { return std::vector<double>{g(rng), g(rng) * 1e-3, g(rng) - 1e6}; };
  for (int i = 0; i < 53; ++i) a.update(draw());
  std::string text = a.save().dump();
  ZScoreDetector b(3);
  b.load(nlohmann::json::parse(text));
  EXPECT_EQ(b.save(), a.save());
  for (int i = 0; i < 20; ++i) {
    auto x = draw();
    Score sa = a.score(x), sb = b.score(x);
    EXPECT_EQ(sa.score, sb.score);  // bit-identical, not just near
    EXPECT_EQ(sa.p_value, sb.p_value);
    EXPECT_EQ(sa.contributions, sb.contributions);
    a.update(x);
    b.update(x);
  }
}
INSTANTIATE_TEST_SUITE_P(Modes, ZScoreRoundTrip, ::testing::Values(0, 1, 2));

TEST(ZScoreDetector, LoadRejectsOtherKindAndBadFields) {
  ZScoreDetector d(2);
  nlohmann::json state = d.save();
  state["kind"] = "mahalanobis";
  EXPECT_THROW(d.load(state), ConfigError);
  state = d.save();
  state["mean"] = {1.0};
  try {
    d.load(state);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("zscore.mean: expected 2 values, got 1"));
  }
  ZScoreDetector three(3);
  EXPECT_THROW(three.load(d.save()), ConfigError);
}

}  // namespace
}  // namespace oap
