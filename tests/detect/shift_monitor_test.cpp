#include "oap/detect/shift_monitor.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "oap/core/error.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;

TEST(ShiftMonitor, CusumByHand) {
  ShiftMonitorOptions o;
  o.warmup = 20;
  o.h = 5;
  o.clip = 3;
  o.outlier_z = 1.5;  // so the raised points stay out of the baseline and the sums are exact
  ShiftMonitor m(o);
  for (int i = 0; i < 20; ++i) m.observe(i % 2 ? 1.0 : -1.0);  // mean 0, sd sqrt(20/19)
  const double sd = std::sqrt(20.0 / 19.0);
  EXPECT_NEAR(m.baseline_sd(), sd, 1e-15);
  ShiftReport r = m.observe(2.0 * sd);  // z = 2
  EXPECT_EQ(r.state, ShiftState::kTransient);
  EXPECT_EQ(r.start, 20);
  EXPECT_NEAR(r.cusum_up, 1.5, 1e-12);
  r = m.observe(2.0 * sd);
  EXPECT_NEAR(r.cusum_up, 3.0, 1e-12);
  r = m.observe(2.0 * sd);
  EXPECT_NEAR(r.cusum_up, 4.5, 1e-12);
  r = m.observe(2.0 * sd);  // 6 > h
  EXPECT_EQ(r.state, ShiftState::kSustained);
  EXPECT_EQ(r.start, 20);  // the first of the four raised points
  // The baseline is re-learned from the shift's values, so the monitor warms up again.
  EXPECT_NEAR(m.baseline_mean(), 2.0 * sd, 1e-12);
}

TEST(ShiftMonitor, LoneOutlierIsTransientEvenWhenHuge) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> g;
  ShiftMonitor m;
  for (int i = 0; i < 100; ++i) m.observe(g(rng));
  ShiftReport r = m.observe(1000.0);
  EXPECT_EQ(r.state, ShiftState::kTransient);
  EXPECT_EQ(r.start, 100);
  EXPECT_NEAR(r.cusum_up, 3.5, 1e-12);  // clipped at 4, minus k
  for (int i = 0; i < 200; ++i) EXPECT_NE(m.observe(g(rng)).state, ShiftState::kSustained) << i;
}

class ShiftDirections
    : public ::testing::TestWithParam<std::tuple<ShiftMonitorOptions::Method, double>> {};

TEST_P(ShiftDirections, LevelShiftIsSustainedWithItsStart) {
  auto [method, jump] = GetParam();
  ShiftMonitorOptions o;
  o.method = method;
  ShiftMonitor m(o);
  std::mt19937_64 rng(5);
  std::normal_distribution<double> g(10.0, 2.0);
  for (int i = 0; i < 200; ++i) ASSERT_NE(m.observe(g(rng)).state, ShiftState::kSustained) << i;
  int alarm_at = -1;
  std::int64_t start = -1;
  for (int i = 200; i < 230 && alarm_at < 0; ++i) {
    ShiftReport r = m.observe(g(rng) + jump);
    if (r.state == ShiftState::kSustained) alarm_at = i, start = r.start;
  }
  ASSERT_GE(alarm_at, 200);
  EXPECT_LE(alarm_at, 208);
  // The estimate is the index after the statistic last sat at zero, which noise just before
  // the change can move a few points early.
  EXPECT_GE(start, 194);
  EXPECT_LE(start, 202);
}
INSTANTIATE_TEST_SUITE_P(
    All, ShiftDirections,
    ::testing::Values(std::make_tuple(ShiftMonitorOptions::Method::kCusum, 6.0),
                      std::make_tuple(ShiftMonitorOptions::Method::kCusum, -6.0),
                      std::make_tuple(ShiftMonitorOptions::Method::kPageHinkley, 6.0),
                      std::make_tuple(ShiftMonitorOptions::Method::kBoth, -6.0)));

TEST(ShiftMonitor, RoundTripAndErrors) {
  ShiftMonitor a;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g;
  for (int i = 0; i < 60; ++i) a.observe(g(rng));
  ShiftMonitor b;
  b.load(nlohmann::json::parse(a.save().dump()));
  for (int i = 0; i < 60; ++i) {
    double v = g(rng) + (i > 20 ? 4 : 0);
    ShiftReport ra = a.observe(v), rb = b.observe(v);
    EXPECT_EQ(ra.state, rb.state);
    EXPECT_EQ(ra.cusum_up, rb.cusum_up);
    EXPECT_EQ(ra.start, rb.start);
  }
  EXPECT_THROW(a.observe(NAN), InvalidArgument);
  try {
    nlohmann::json{{"clip", 0.2}}.get<ShiftMonitorOptions>();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("shift.clip must be > shift.k"));
  }
}

}  // namespace
}  // namespace oap
