#include "oap/detect/likelihood_detector.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "oap/core/error.hpp"
#include "oap/detect/detector_factory.hpp"
#include "oap/detect/distributions.hpp"
#include "oap/detect/zscore_detector.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<LikelihoodDetector> over_zscore(LikelihoodOptions o = {}) {
  return std::make_unique<LikelihoodDetector>(std::make_unique<ZScoreDetector>(1), o);
}

// Runs the stream through both the bare z-score and the likelihood over it (score then learn);
// returns their p-values per point.
struct Both {
  std::vector<double> zscore, likelihood;
};
Both run(const std::vector<double>& stream, LikelihoodOptions o = {}) {
  ZScoreDetector bare(1);
  auto wrapped = over_zscore(o);
  Both out;
  Score s;
  for (double v : stream) {
    const double x[] = {v};
    bare.score_and_update(x, s);
    out.zscore.push_back(s.p_value);
    wrapped->score_and_update(x, s);
    out.likelihood.push_back(s.p_value);
  }
  return out;
}

std::vector<double> gaussian(std::size_t n, double mean, double sd, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(mean, sd);
  std::vector<double> v(n);
  for (auto& x : v) x = g(rng);
  return v;
}

TEST(LikelihoodDetector, ALoneSpikeIsNotFlaggedButTheBareDetectorFlagsIt) {
  auto stream = gaussian(600, 0.0, 1.0, 1);
  stream[400] = 9.0;  // a 9-sd spike, then back to normal
  const auto p = run(stream);
  EXPECT_LT(p.zscore[400], 1e-10);
  EXPECT_GT(p.likelihood[400], 0.01);
  for (std::size_t i = 400; i < 410; ++i) EXPECT_GT(p.likelihood[i], 1e-3) << "point " << i;
}

TEST(LikelihoodDetector, ALastingModestShiftIsFlaggedWhereNoSinglePointIs) {
  // From point 400 every value is 1.5 sd higher: the bare detector sees a string of ordinary
  // looking points (two-sided p ~ 0.13 each); the short window's mean moves far.
  auto stream = gaussian(600, 0.0, 1.0, 2);
  for (std::size_t i = 400; i < stream.size(); ++i) stream[i] += 1.5;
  const auto p = run(stream);
  int first = -1;
  for (std::size_t i = 400; i < 420 && first < 0; ++i) {
    if (p.likelihood[i] < 0.01) first = static_cast<int>(i);
  }
  ASSERT_GE(first, 0) << "the shift was not flagged within 20 points";
  EXPECT_LE(first, 410);
  int bare_flags = 0;
  for (std::size_t i = 400; i < 420; ++i) bare_flags += p.zscore[i] < 0.01;
  EXPECT_LE(bare_flags, 5);
  // Before the shift the likelihood flags little (its p-values are valid for iid surprises).
  int false_alarms = 0;
  for (std::size_t i = 100; i < 400; ++i) false_alarms += p.likelihood[i] < 0.01;
  EXPECT_LE(false_alarms, 9);
}

TEST(LikelihoodDetector, GivesNoPValueUntilTheLongWindowHoldsMinScores) {
  LikelihoodOptions o;
  o.short_window = 4;
  o.long_window = 20;
  o.min_scores = 10;
  auto d = over_zscore(o);
  const auto stream = gaussian(40, 0.0, 1.0, 3);
  Score s;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    const double x[] = {stream[i]};
    d->score_and_update(x, s);
    // Short means exist from the 4th point; the first k - 1 = 3 of them overlap the window
    // of point i, so p-values start once 10 more exist: at point 3 + 3 + 10.
    if (i < 3 + 3 + 10) {
      EXPECT_EQ(s.p_value, 1.0) << i;
      EXPECT_EQ(s.score, 0.0) << i;
    } else {
      EXPECT_LT(s.p_value, 1.0) << i;
    }
  }
  EXPECT_EQ(d->n_seen(), 40u);
}

TEST(LikelihoodDetector, ScoreIsTheFormulaOverTheInnerSurprises) {
  LikelihoodOptions o;
  o.short_window = 3;
  o.long_window = 8;
  o.min_scores = 5;
  auto d = over_zscore(o);
  ZScoreDetector mirror(1);
  std::vector<double> surprises, means;  // means[j]: of surprises j, j+1, j+2
  const auto stream = gaussian(40, 5.0, 2.0, 4);
  int judged = 0;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    const double x[] = {stream[i]};
    const Score got = d->score(x);
    const double s = LikelihoodDetector::surprise(mirror.score(x).p_value);
    // The reference: this window's mean against the means of up to 8 windows before the 2
    // windows that overlap it, once there are 5 of those.
    const std::size_t kept = std::min<std::size_t>(means.size(), 8 + 2);
    const std::size_t count = kept >= 2 ? kept - 2 : 0;
    if (count >= 5) {
      const std::size_t begin = means.size() - kept;
      double mean = 0, ss = 0;
      for (std::size_t j = begin; j < begin + count; ++j) mean += means[j];
      mean /= static_cast<double>(count);
      for (std::size_t j = begin; j < begin + count; ++j)
        ss += (means[j] - mean) * (means[j] - mean);
      const double sd = std::max(std::sqrt(ss / static_cast<double>(count - 1)), 0.05);
      const std::size_t n = surprises.size();
      const double m = (surprises[n - 2] + surprises[n - 1] + s) / 3.0;
      EXPECT_NEAR(got.score, (m - mean) / sd, 1e-12) << i;
      EXPECT_NEAR(got.p_value, normal_sf((m - mean) / sd), 1e-15) << i;
      ++judged;
    } else {
      EXPECT_EQ(got.p_value, 1.0) << i;
    }
    d->update(x);
    mirror.update(x);
    surprises.push_back(s);
    if (surprises.size() >= 3) {
      const std::size_t n = surprises.size();
      means.push_back((surprises[n - 3] + surprises[n - 2] + surprises[n - 1]) / 3.0);
    }
  }
  EXPECT_GT(judged, 20);
}

TEST(LikelihoodDetector, SaveLoadCloneAndFactoryAreExact) {
  const nlohmann::json spec = {
      {"type", "likelihood"},
      {"options", {{"short_window", 5}, {"long_window", 40}, {"min_scores", 10}}},
      {"inner", {{"type", "mahalanobis"}}}};
  auto d = make_detector(spec, 2);
  ASSERT_EQ(d->kind(), "likelihood");
  std::mt19937_64 rng(5);
  std::normal_distribution<double> g;
  for (int i = 0; i < 120; ++i) {
    const double x[] = {g(rng), g(rng)};
    d->update(x);
  }
  auto restored = restore_detector(d->save());
  auto copy = d->clone();
  EXPECT_EQ(restored->save(), d->save());
  for (int i = 0; i < 60; ++i) {
    const double x[] = {g(rng) + (i > 30 ? 2.0 : 0.0), g(rng)};
    Score a, b, c;
    d->score_and_update(x, a);
    restored->score_and_update(x, b);
    copy->score_and_update(x, c);
    EXPECT_EQ(a.score, b.score);
    EXPECT_EQ(a.p_value, b.p_value);
    EXPECT_EQ(a.score, c.score);
    EXPECT_EQ(a.contributions, b.contributions);
  }
  d->reset();
  EXPECT_EQ(d->n_seen(), 0u);
  const double x[] = {0.0, 0.0};
  EXPECT_EQ(d->score(x).p_value, 1.0);
}

TEST(LikelihoodDetector, BadSpecsOptionsAndStatesAreNamed) {
  auto error_of = [](const nlohmann::json& spec) {
    try {
      make_detector(spec, 1);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(error_of({{"type", "likelihood"}}), HasSubstr("detector.inner"));
  EXPECT_THAT(error_of({{"type", "likelihood"},
                        {"inner", {{"type", "zscore"}}},
                        {"options", {{"short_window", 50}, {"long_window", 50}}}}),
              HasSubstr("likelihood.long_window must be > short_window"));
  EXPECT_THAT(error_of({{"type", "likelihood"},
                        {"inner", {{"type", "zscore"}}},
                        {"options", {{"min_scores", 1}}}}),
              HasSubstr("likelihood.min_scores"));
  EXPECT_THAT(
      error_of(
          {{"type", "likelihood"}, {"inner", {{"type", "zscore"}}}, {"options", {{"window", 5}}}}),
      HasSubstr("window"));
  EXPECT_THAT(error_of({{"type", "likelihood"}, {"inner", {{"type", "nope"}}}}),
              HasSubstr("detector.type"));
  EXPECT_THROW(LikelihoodDetector(nullptr), InvalidArgument);

  auto d = over_zscore();
  auto state = d->save();
  state["values"] = {0.0, 1e9};
  EXPECT_THROW(d->load(state), ConfigError);
  state = d->save();
  state["kind"] = "zscore";
  EXPECT_THROW(d->load(state), ConfigError);
  // A bad point is refused and nothing is learned.
  const double bad[] = {std::nan("")};
  EXPECT_THROW(d->update(bad), InvalidArgument);
  EXPECT_EQ(d->n_seen(), 0u);
  EXPECT_EQ(d->inner().n_seen(), 0u);
}

}  // namespace
}  // namespace oap
