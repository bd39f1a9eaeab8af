#include "oap/detect/isolation_forest_detector.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "oap/core/error.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;

TEST(IsolationForestDetector, PathLengthNormalization) {
  EXPECT_EQ(isolation_path_length(1), 0.0);
  EXPECT_EQ(isolation_path_length(2), 1.0);
  // c(256) = 2 (ln 255 + gamma) - 2 * 255 / 256.
  EXPECT_NEAR(isolation_path_length(256), 2 * (std::log(255.0) + 0.5772156649) - 2 * 255.0 / 256,
              1e-9);
  EXPECT_NEAR(isolation_path_length(256), 10.2448, 1e-4);
}

TEST(IsolationForestDetector, TwoPointForestScoresOneHalf) {
  // psi = 2: the root splits the two points, every leaf has one point, h = 1 = c(2),
  // so every x scores 2^-1.
  IsolationForestOptions o;
  o.window = 2;
  o.sample_size = 2;
  o.min_history = 2;
  o.n_trees = 7;
  IsolationForestDetector d(1, o);
  d.update(std::vector<double>{0.0});
  d.update(std::vector<double>{1.0});
  EXPECT_EQ(d.trees_built(), 7u);
  for (double x : {-5.0, 0.3, 0.9, 42.0}) {
    EXPECT_DOUBLE_EQ(d.mean_path_length(std::vector<double>{x}), 1.0);
    EXPECT_DOUBLE_EQ(d.score(std::vector<double>{x}).score, 0.5);
  }
}

TEST(IsolationForestDetector, DuplicatesAreALeafOfCSize) {
  IsolationForestOptions o;
  o.window = 64;
  o.sample_size = 64;
  o.min_history = 64;
  IsolationForestDetector d(3, o);
  for (int i = 0; i < 64; ++i) d.update(std::vector<double>{1, 2, 3});
  // No feature varies: the root is a leaf of 64 points, h = c(64) for any x, score 0.5.
  EXPECT_NEAR(d.mean_path_length(std::vector<double>{9, 9, 9}), isolation_path_length(64), 1e-12);
  Score s = d.score(std::vector<double>{9, 9, 9});
  EXPECT_DOUBLE_EQ(s.score, 0.5);
  EXPECT_EQ(s.contributions, std::vector<double>(3, 0.0));
}

std::vector<double> gaussian_rows(std::size_t n, std::size_t d, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::vector<double> rows(n * d);
  for (double& v : rows) v = g(rng);
  return rows;
}

TEST(IsolationForestDetector, IsolatesAnOutlierAndExplainsIt) {
  IsolationForestDetector d(3);
  auto rows = gaussian_rows(600, 3, 4);
  for (std::size_t i = 0; i < 600; ++i) d.update(std::span<const double>(rows).subspan(i * 3, 3));
  Score inlier = d.score(std::vector<double>{0.1, -0.2, 0.0});
  Score outlier = d.score(std::vector<double>{0.0, 7.0, 0.0});
  // scikit-learn's IsolationForest gives 0.38 and 0.57 for these on 256 such points.
  EXPECT_LT(inlier.score, 0.45);
  EXPECT_GT(outlier.score, 0.55);
  EXPECT_FALSE(inlier.flagged);
  EXPECT_TRUE(d.score(std::vector<double>{7.0, 7.0, 7.0}).flagged);
  // Feature 1 did the isolating: it has the largest share of the splits on the path.
  EXPECT_GT(outlier.contributions[1], outlier.contributions[0] + 0.05);
  EXPECT_GT(outlier.contributions[1], outlier.contributions[2] + 0.05);
  EXPECT_NEAR(outlier.contributions[0] + outlier.contributions[1] + outlier.contributions[2], 1.0,
              1e-12);
}

TEST(IsolationForestDetector, ReplacesTreesIncrementallyAndFollowsTheWindow) {
  IsolationForestOptions o;
  o.n_trees = 50;
  o.window = 200;  // replace_every = 4
  o.sample_size = 128;
  o.min_history = 100;
  IsolationForestDetector d(2, o);
  auto rows = gaussian_rows(1000, 2, 8);
  for (std::size_t i = 0; i < 500; ++i) d.update(std::span<const double>(rows).subspan(i * 2, 2));
  // 50 trees at point 100, then one more per 4 updates over the remaining 400.
  EXPECT_EQ(d.rebuilds(), 50u + 400u / 4u);
  std::vector<double> old_center = {0.0, 0.0};
  EXPECT_LT(d.score(old_center).score, 0.5);
  // The user moves to (10, 10); after a full window the old region is the unusual one.
  for (std::size_t i = 500; i < 1000; ++i) {
    std::vector<double> x = {rows[i * 2] + 10, rows[i * 2 + 1] + 10};
    d.update(x);
  }
  EXPECT_GT(d.score(old_center).score, 0.65);
  EXPECT_LT(d.score(std::vector<double>{10, 10}).score, 0.5);
}

TEST(IsolationForestDetector, DeterministicUnderASeed) {
  auto rows = gaussian_rows(300, 4, 2);
  IsolationForestOptions o;
  IsolationForestDetector a(4, o), b(4, o);
  o.seed = 43;
  IsolationForestDetector c(4, o);
  for (std::size_t i = 0; i < 300; ++i) {
    auto x = std::span<const double>(rows).subspan(i * 4, 4);
    a.update(x);
    b.update(x);
    c.update(x);
  }
  std::vector<double> probe = {0.5, 1.5, -1, 2};
  EXPECT_EQ(a.score(probe).score, b.score(probe).score);
  EXPECT_NE(a.score(probe).score, c.score(probe).score);
}

TEST(IsolationForestDetector, BatchEqualsSingleAndRoundTripIsExact) {
  IsolationForestOptions o;
  o.n_trees = 30;
  o.window = 100;
  o.sample_size = 64;
  o.calibration.min_scores = 10;
  IsolationForestDetector a(2, o);
  auto rows = gaussian_rows(400, 2, 6);
  for (std::size_t i = 0; i < 150; ++i) a.update(std::span<const double>(rows).subspan(i * 2, 2));
  auto probes = std::span<const double>(rows).subspan(300, 100);
  auto batch = a.score_batch(probes);
  ASSERT_EQ(batch.size(), 50u);
  for (std::size_t i = 0; i < 50; ++i) {
    Score s = a.score(probes.subspan(i * 2, 2));
    EXPECT_EQ(batch[i].score, s.score);
    EXPECT_EQ(batch[i].p_value, s.p_value);
    EXPECT_EQ(batch[i].contributions, s.contributions);
  }
  IsolationForestDetector b(2);
  b.load(nlohmann::json::parse(a.save().dump()));
  for (std::size_t i = 150; i < 300; ++i) {  // crosses many tree replacements
    auto x = std::span<const double>(rows).subspan(i * 2, 2);
    Score sa = a.score(x), sb = b.score(x);
    EXPECT_EQ(sa.score, sb.score);
    EXPECT_EQ(sa.p_value, sb.p_value);
    a.update(x);
    b.update(x);
  }
  EXPECT_EQ(a.save(), b.save());
}

TEST(IsolationForestDetector, SplitsOnlyOnFeaturesThatVary) {
  // Features 1 and 3 are constant: every split (so every contribution) is on 0 and 2, and both
  // are used (the split feature is uniform among the varying ones).
  IsolationForestDetector d(4);
  auto rows = gaussian_rows(300, 4, 8);
  for (std::size_t i = 0; i < 300; ++i) {
    rows[i * 4 + 1] = 5.0;
    rows[i * 4 + 3] = -1.0;
    d.update(std::span<const double>(rows).subspan(i * 4, 4));
  }
  Score s = d.score(std::vector<double>{0.3, 5.0, -0.2, -1.0});
  EXPECT_EQ(s.contributions[1], 0.0);
  EXPECT_EQ(s.contributions[3], 0.0);
  EXPECT_GT(s.contributions[0], 0.25);
  EXPECT_GT(s.contributions[2], 0.25);
  EXPECT_NEAR(s.contributions[0] + s.contributions[2], 1.0, 1e-12);
}

TEST(IsolationForestDetector, StreamingStepsLearnAsScoreThenUpdate) {
  // score() then update(); score_and_update(); score_into() then update_scored() with one
  // reused Score: the same scores, p-values and contributions, and the same state at the end
  // (the calibrator learned the same raw scores).
  IsolationForestOptions o;
  o.n_trees = 20;
  o.window = 64;
  o.sample_size = 32;
  o.calibration.min_scores = 10;
  IsolationForestDetector a(3, o), b(3, o), c(3, o);
  auto rows = gaussian_rows(200, 3, 9);
  Score reused;
  for (std::size_t i = 0; i < 200; ++i) {
    auto x = std::span<const double>(rows).subspan(i * 3, 3);
    Score sa = a.score(x), sb;
    a.update(x);
    b.score_and_update(x, sb);
    c.score_into(x, reused);
    c.update_scored(x, reused);
    EXPECT_EQ(sa.score, sb.score);
    EXPECT_EQ(sa.score, reused.score);
    EXPECT_EQ(sa.p_value, sb.p_value);
    EXPECT_EQ(sa.p_value, reused.p_value);
    EXPECT_EQ(sa.contributions, reused.contributions);
  }
  EXPECT_EQ(a.save(), b.save());
  EXPECT_EQ(a.save(), c.save());
  // A bad point: an error, nothing learned.
  EXPECT_THROW(c.update_scored(std::vector<double>{1, NAN, 0}, reused), InvalidArgument);
  EXPECT_EQ(a.save(), c.save());
}

TEST(IsolationForestDetector, ErrorsAndNeutralColdStart) {
  IsolationForestDetector d(2);
  Score s = d.score(std::vector<double>{1, 2});
  EXPECT_EQ(s.score, 0.0);
  EXPECT_EQ(s.p_value, 1.0);
  try {
    d.update(std::vector<double>{1});
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("isolation_forest: expected 2 features, got 1"));
  }
  try {
    nlohmann::json{{"window", 64}, {"sample_size", 128}}.get<IsolationForestOptions>();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("sample_size must be in 2..window (64), got 128"));
  }
  // A smaller window alone pulls the default sample size and min_history down with it.
  auto o = nlohmann::json{{"window", 64}}.get<IsolationForestOptions>();
  EXPECT_EQ(o.sample_size, 64u);
  nlohmann::json bad = d.save();
  bad["rng"] = "not a state";
  EXPECT_THROW(d.load(bad), ConfigError);
}

TEST(IsolationForestDetector, LoadRefusesMalformedTreeNodes) {
  IsolationForestOptions o;
  o.n_trees = 4;
  o.window = 64;
  o.sample_size = 32;
  o.min_history = 16;
  IsolationForestDetector d(2, o);
  auto rows = gaussian_rows(64, 2, 8);
  for (std::size_t i = 0; i < 64; ++i) d.update(std::span<const double>(rows).subspan(i * 2, 2));
  const nlohmann::json good = d.save();
  const auto& nodes = good["trees"][0];
  ASSERT_GE(nodes["feature"][0].get<double>(), 0.0);  // the root splits
  std::size_t leaf = 0;
  while (nodes["feature"][leaf].get<double>() >= 0) ++leaf;
  const std::vector<double> probe = {0.3, -0.2};
  const double before = d.score(probe).score;
  struct Case {
    const char* field;
    std::size_t node;
    double value;
  };
  for (const Case& c : {Case{"feature", 0, 1e20}, Case{"feature", 0, 0.5}, Case{"feature", 0, 2},
                        Case{"feature", 0, -2}, Case{"left", 0, 0}, Case{"left", 0, 1e6},
                        Case{"size", leaf, -3}, Case{"size", leaf, 2.5}}) {
    nlohmann::json bad = good;
    bad["trees"][0][c.field][c.node] = c.value;
    try {
      d.load(bad);
      FAIL() << c.field << " = " << c.value;
    } catch (const ConfigError& e) {
      EXPECT_THAT(e.what(),
                  HasSubstr("trees[0]: node " + std::to_string(c.node) + " is malformed"));
    }
  }
  EXPECT_EQ(d.score(probe).score, before);  // a refused state changed nothing
  d.load(good);
  EXPECT_EQ(d.score(probe).score, before);
}

}  // namespace
}  // namespace oap
