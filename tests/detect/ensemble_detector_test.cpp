#include "oap/detect/ensemble_detector.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "oap/core/error.hpp"
#include "oap/detect/detector_factory.hpp"
#include "oap/detect/zscore_detector.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<EnsembleDetector> two_zscores(EnsembleOptions o) {
  std::vector<std::unique_ptr<Detector>> m;
  m.push_back(std::make_unique<ZScoreDetector>(2));
  ZScoreOptions sq;
  sq.combine = ZScoreOptions::Combine::kSumSquares;
  m.push_back(std::make_unique<ZScoreDetector>(2, sq));
  return std::make_unique<EnsembleDetector>(std::move(m), o);
}

TEST(EnsembleDetector, CombinationRules) {
  EnsembleOptions o;
  auto bonf = two_zscores(o);
  EXPECT_NEAR(bonf->combine({0.02, 0.5}), 0.04, 1e-15);
  EXPECT_EQ(bonf->combine({0.7, 0.9}), 1.0);
  o.method = EnsembleOptions::Method::kFisher;
  auto fisher = two_zscores(o);
  // -2 (ln .1 + ln .1) = 4 ln 10 ~ chi2(4), tail e^{-x/2} (1 + x/2) = 0.01 (1 + 2 ln 10).
  EXPECT_NEAR(fisher->combine({0.1, 0.1}), 0.01 * (1 + 2 * std::log(10.0)), 1e-13);
}

TEST(EnsembleDetector, UncalibratedScoreIsBonferroniOfMembers) {
  EnsembleOptions o;
  o.calibrate = false;
  auto e = two_zscores(o);
  for (auto r : {std::vector<double>{0, 10}, {2, 14}, {4, 12}}) e->update(r);
  std::vector<double> x = {8, 9};
  auto members = e->member_scores(x);
  Score s = e->score(x);
  double expected = std::min(1.0, 2 * std::min(members[0].p_value, members[1].p_value));
  EXPECT_DOUBLE_EQ(s.p_value, expected);
  EXPECT_DOUBLE_EQ(s.score, -std::log10(expected));
  EXPECT_EQ(s.flagged, expected < 0.01);
  EXPECT_NEAR(s.contributions[0] + s.contributions[1], 1.0, 1e-12);
}

TEST(EnsembleDetector, CalibratedMembersUseTheirScoreHistory) {
  for (bool tail : {false, true}) {
    EnsembleOptions o;
    o.calibration = {.window = 100, .min_scores = 20, .extrapolate_tail = tail};
    auto e = two_zscores(o);
    std::mt19937_64 rng(2);
    std::normal_distribution<double> g;
    for (int i = 0; i < 300; ++i) e->update(std::vector<double>{g(rng), g(rng)});
    Score far = e->score(std::vector<double>{9, 9});
    Score farther = e->score(std::vector<double>{12, 12});
    if (!tail) {
      // Beyond every recent score: each member's p is 1/101, Bonferroni doubles it, and a
      // window of 100 cannot reach alpha = 0.01: every such point ties.
      EXPECT_NEAR(far.p_value, 2.0 / 101.0, 1e-15);
      EXPECT_FALSE(far.flagged);
      EXPECT_EQ(farther.p_value, far.p_value);
    } else {
      // The members' extrapolated tails rank them, and a window of 100 can flag.
      EXPECT_LT(far.p_value, 1e-6);
      EXPECT_TRUE(far.flagged);
      EXPECT_LT(farther.p_value, far.p_value);
      EXPECT_GT(farther.score, far.score);
    }
  }
}

TEST(EnsembleDetector, ScoreAndUpdateEqualsScoreThenUpdate) {
  // Mixed members, calibrated, from the cold start on: the one-pass streaming step gives the
  // same scores and leaves the same state as score() followed by update().
  const auto spec = nlohmann::json::parse(R"({"type": "ensemble",
      "options": {"calibration": {"window": 40, "min_scores": 10}},
      "members": [{"type": "zscore"}, {"type": "mahalanobis"},
                  {"type": "isolation_forest", "options": {"window": 64, "min_history": 16}}]})");
  for (bool calibrate : {true, false}) {
    auto s = spec;
    s["options"]["calibrate"] = calibrate;
    auto a = make_detector(s, 3), b = make_detector(s, 3);
    std::mt19937_64 rng(9);
    std::normal_distribution<double> g;
    Score sb;
    for (int i = 0; i < 300; ++i) {
      std::vector<double> x = {g(rng), g(rng), i % 50 == 49 ? 8.0 : g(rng)};
      const Score sa = a->score(x);
      a->update(x);
      b->score_and_update(x, sb);
      ASSERT_EQ(sa.score, sb.score) << "point " << i << " calibrate " << calibrate;
      ASSERT_EQ(sa.p_value, sb.p_value) << "point " << i;
      ASSERT_EQ(sa.flagged, sb.flagged) << "point " << i;
      ASSERT_EQ(sa.contributions, sb.contributions) << "point " << i;
    }
    EXPECT_EQ(a->save(), b->save());
    EXPECT_EQ(a->n_seen(), b->n_seen());
  }
  auto e = make_detector(spec, 3);
  Score out;
  EXPECT_THROW(e->score_and_update(std::vector<double>{1, std::nan(""), 3}, out), InvalidArgument);
  EXPECT_EQ(e->n_seen(), 0u);
}

TEST(EnsembleDetector, FactoryBuildsAndRestoresMixedEnsembles) {
  auto spec = nlohmann::json::parse(R"({
    "type": "ensemble", "options": {"method": "fisher", "calibration": {"window": 50, "min_scores": 10}},
    "members": [{"type": "zscore", "options": {"mode": "ewma"}},
                {"type": "mahalanobis"},
                {"type": "isolation_forest", "options": {"n_trees": 20, "window": 64}}]})");
  auto a = make_detector(spec, 3);
  EXPECT_EQ(a->kind(), "ensemble");
  std::mt19937_64 rng(12);
  std::normal_distribution<double> g;
  auto draw = [&] { return std::vector<double>{g(rng), g(rng), g(rng)}; };
  for (int i = 0; i < 120; ++i) a->update(draw());
  auto b = restore_detector(nlohmann::json::parse(a->save().dump()));
  auto c = a->clone();
  for (int i = 0; i < 30; ++i) {
    auto x = draw();
    Score sa = a->score(x), sb = b->score(x), sc = c->score(x);
    EXPECT_EQ(sa.p_value, sb.p_value);
    EXPECT_EQ(sa.p_value, sc.p_value);
    a->update(x);
    b->update(x);
    c->update(x);
  }
  EXPECT_EQ(a->save(), b->save());
}

TEST(EnsembleDetector, FactoryAndConstructorErrors) {
  try {
    make_detector(nlohmann::json{{"type", "lof"}}, 2);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("detector.type must be"));
    EXPECT_THAT(e.what(), HasSubstr("got \"lof\""));
  }
  EXPECT_THROW(make_detector(nlohmann::json{{"type", "zscore"}, {"option", {}}}, 2), ConfigError);
  EXPECT_THROW(
      make_detector(nlohmann::json{{"type", "ensemble"}, {"members", nlohmann::json::array()}}, 2),
      ConfigError);
  std::vector<std::unique_ptr<Detector>> m;
  m.push_back(std::make_unique<ZScoreDetector>(2));
  m.push_back(std::make_unique<ZScoreDetector>(3));
  try {
    EnsembleDetector e(std::move(m));
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("member 1 (zscore) has dim 3, member 0 has 2"));
  }
}

}  // namespace
}  // namespace oap
