#include "oap/detect/score_calibrator.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "oap/core/error.hpp"

namespace oap {
namespace {

TEST(ScoreCalibrator, EmpiricalUpperTail) {
  ScoreCalibrator c({.window = 10, .min_scores = 5, .extrapolate_tail = false});
  EXPECT_EQ(c.p_value(3.0), 1.0);
  for (int i = 1; i <= 4; ++i) c.add(i);
  EXPECT_FALSE(c.ready());
  for (int i = 5; i <= 10; ++i) c.add(i);
  EXPECT_TRUE(c.ready());
  EXPECT_DOUBLE_EQ(c.p_value(5.0), 7.0 / 11.0);   // 5..10 are >= 5
  EXPECT_DOUBLE_EQ(c.p_value(10.5), 1.0 / 11.0);  // never 0
  EXPECT_DOUBLE_EQ(c.p_value(-1.0), 1.0);
  c.add(100.0);  // evicts 1 (oldest)
  EXPECT_EQ(c.size(), 10u);
  EXPECT_DOUBLE_EQ(c.p_value(1.5), 11.0 / 11.0);
  EXPECT_DOUBLE_EQ(c.p_value(50.0), 2.0 / 11.0);
}

TEST(ScoreCalibrator, ExtrapolatesAnExponentialTailBeyondTheLargestScore) {
  // 20 scores 1..20: k = 10 largest are 11..20, u = 10, mean excess beta = 5.5.
  ScoreCalibrator c({.window = 20, .min_scores = 5});
  for (int i = 1; i <= 20; ++i) c.add(i);
  EXPECT_DOUBLE_EQ(c.p_value(20.0), 2.0 / 21.0);  // inside the history: empirical
  EXPECT_DOUBLE_EQ(c.p_value(15.0), 7.0 / 21.0);
  EXPECT_NEAR(c.p_value(20.0 + 5.5), std::exp(-1.0) / 21.0, 1e-15);
  EXPECT_NEAR(c.p_value(31.0), std::exp(-2.0) / 21.0, 1e-15);
  EXPECT_LT(c.p_value(100.0), c.p_value(30.0));  // further out ranks as more extreme
  EXPECT_GT(c.p_value(100.0), 0.0);
  // No spread among the largest scores, or too few scores: the floor, 1 / (1 + n).
  ScoreCalibrator flat({.window = 20, .min_scores = 5});
  for (int i = 0; i < 20; ++i) flat.add(i < 5 ? i : 7.0);
  EXPECT_DOUBLE_EQ(flat.p_value(50.0), 1.0 / 21.0);
  ScoreCalibrator few({.window = 20, .min_scores = 5});
  for (int i = 1; i <= 10; ++i) few.add(i);
  EXPECT_DOUBLE_EQ(few.p_value(50.0), 1.0 / 11.0);
  // The option round-trips and is off on request.
  ScoreCalibratorOptions off = nlohmann::json({{"extrapolate_tail", false}});
  EXPECT_FALSE(off.extrapolate_tail);
  EXPECT_FALSE(nlohmann::json(off).get<ScoreCalibratorOptions>().extrapolate_tail);
}

TEST(ScoreCalibrator, ExtrapolatedTailIsConservativeForAGaussianScore) {
  // For a light (Gaussian) tail the exponential fit over-states p beyond the history.
  ScoreCalibrator c({.window = 1000, .min_scores = 50});
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g;
  for (int i = 0; i < 1000; ++i) c.add(g(rng));
  for (double z : {4.0, 5.0, 6.0}) {
    const double exact = 0.5 * std::erfc(z / std::sqrt(2.0));
    EXPECT_GT(c.p_value(z), exact) << z;
    EXPECT_LT(c.p_value(z), 1.0 / 1001.0) << z;
  }
}

TEST(ScoreCalibrator, UniformUnderTheNull) {
  ScoreCalibrator c({.window = 1000, .min_scores = 50});
  std::mt19937_64 rng(1);
  std::exponential_distribution<double> g(0.3);
  for (int i = 0; i < 1000; ++i) c.add(g(rng));
  int below = 0;
  for (int i = 0; i < 20000; ++i) below += c.p_value(g(rng)) < 0.05;
  EXPECT_NEAR(below / 20000.0, 0.05, 0.012);
}

TEST(ScoreCalibrator, RoundTripAndErrors) {
  ScoreCalibrator a({.window = 10, .min_scores = 2});
  for (int i = 0; i < 23; ++i) a.add(i * 0.37);
  ScoreCalibrator b;
  b.load(nlohmann::json::parse(a.save().dump()));
  for (double s : {0.0, 3.0, 7.4, 8.1}) EXPECT_EQ(a.p_value(s), b.p_value(s));
  a.add(2.0);
  b.add(2.0);
  EXPECT_EQ(a.save(), b.save());
  EXPECT_THROW(ScoreCalibrator({.window = 5, .min_scores = 1}), ConfigError);
  EXPECT_THROW(nlohmann::json({{"window", 100}, {"min_scores", 200}}).get<ScoreCalibratorOptions>(),
               ConfigError);
}

}  // namespace
}  // namespace oap
