#include "oap/detect/score_calibrator.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "oap/core/error.hpp"

namespace oap {
namespace {

TEST(ScoreCalibrator, EmpiricalUpperTail) {
  ScoreCalibrator c({.window = 10, .min_scores = 5});
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
