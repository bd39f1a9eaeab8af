#include "oap/detect/stream_context.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <numbers>
#include <random>

#include "oap/core/error.hpp"
#include "oap/detect/detector_bank.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// 2026-01-05 was a Monday; 00:00 UTC.
const std::int64_t kMonday = 1'767'571'200;
Timestamp at(std::int64_t seconds) { return timestamp_from_micros(seconds * 1'000'000); }

std::vector<double> apply(StreamContext& c, std::vector<double> x, std::optional<Timestamp> t) {
  std::vector<double> out;
  c.apply(x, t, out);
  return out;
}

TEST(StreamContext, DefaultIsTheDailySeason) {
  StreamContextOptions o;
  EXPECT_EQ(o.season, StreamContextOptions::Season::kDay);
  EXPECT_EQ(o.season_half_life_days, 2.0);
  EXPECT_EQ(o.season_min_days, 2u);
  EXPECT_EQ(o.season_min_visits, 12u);
  EXPECT_TRUE(o.enabled());
  EXPECT_FALSE(o.needs_time());  // a point without a time is judged against the overall mean
  EXPECT_EQ(o.output_dim(3), 3u);
  StreamContext c(2, o);
  // An unvisited hour: the residual from the mean of the points before (none: the point).
  EXPECT_THAT(apply(c, {1.5, -2}, at(kMonday)), ElementsAre(0, 0));
  EXPECT_THAT(apply(c, {2.5, 0}, at(kMonday + 60)), ElementsAre(1, 2));
}

TEST(StreamContext, WithoutASeasonItIsTheIdentity) {
  StreamContextOptions o;
  o.season = StreamContextOptions::Season::kNone;
  EXPECT_FALSE(o.enabled());
  StreamContext c(2, o);
  EXPECT_THAT(apply(c, {1.5, -2}, std::nullopt), ElementsAre(1.5, -2));
}

TEST(StreamContext, APointWithoutATimeMovesNoSlot) {
  StreamContextOptions o;
  o.season_min_visits = 1;
  o.season_half_life = 1;
  StreamContext timed(1, o), mixed(1, o);
  apply(timed, {10}, at(kMonday + 3600));  // 01:00 learns 10
  apply(mixed, {10}, at(kMonday + 3600));
  // Untimed: judged against the mean of all points (10), and 01:00 keeps its mean.
  EXPECT_THAT(apply(mixed, {4}, std::nullopt), ElementsAre(-6));
  EXPECT_THAT(apply(mixed, {13}, at(kMonday + 86400 + 3600)), ElementsAre(3));
  EXPECT_THAT(apply(timed, {13}, at(kMonday + 86400 + 3600)), ElementsAre(3));
}

TEST(StreamContext, DiffRateAndLagsInTheirLayout) {
  StreamContextOptions o;
  o.season = StreamContextOptions::Season::kNone;
  o.diff = true;
  o.rate = true;
  o.lags = 2;
  ASSERT_EQ(o.output_dim(2), 10u);
  StreamContext c(2, o);
  // level, diff, rate, lag 1, lag 2
  EXPECT_THAT(apply(c, {1, 10}, at(kMonday)), ElementsAre(1, 10, 0, 0, 0, 0, 0, 0, 0, 0));
  EXPECT_THAT(apply(c, {3, 4}, at(kMonday + 2)), ElementsAre(3, 4, 2, -6, 1, -3, 1, 10, 0, 0));
  EXPECT_THAT(apply(c, {3, 5}, at(kMonday + 2)),  // no time passed: rate 0
              ElementsAre(3, 5, 0, 1, 0, 0, 3, 4, 1, 10));
  EXPECT_THAT(apply(c, {0, 0}, at(kMonday + 12)),
              ElementsAre(0, 0, -3, -5, -0.3, -0.5, 3, 5, 3, 4));
}

TEST(StreamContext, TimeFeaturesFollowTheLocalClock) {
  StreamContextOptions o;
  o.level = false;
  o.time_features = true;
  StreamContext c(1, o);
  // Monday 06:00 UTC: a quarter of the day, (0 + 0.25) / 7 of the week.
  auto f = apply(c, {0}, at(kMonday + 6 * 3600));
  const double two_pi = 2 * std::numbers::pi;
  EXPECT_NEAR(f[0], 1.0, 1e-12);
  EXPECT_NEAR(f[1], 0.0, 1e-12);
  EXPECT_NEAR(f[2], std::sin(two_pi * 0.25 / 7), 1e-12);
  EXPECT_NEAR(f[3], std::cos(two_pi * 0.25 / 7), 1e-12);
  // The same instant at UTC-06:00 is Monday 00:00 local.
  o.utc_offset_minutes = -360;
  StreamContext local(1, o);
  f = apply(local, {0}, at(kMonday + 6 * 3600));
  EXPECT_NEAR(f[0], 0.0, 1e-12);
  EXPECT_NEAR(f[1], 1.0, 1e-12);
  EXPECT_NEAR(f[2], 0.0, 1e-12);
  // 1969-12-30 00:00 UTC is Monday 1969-12-29 18:00 at UTC-06:00 (floor division before 1970).
  StreamContext old(1, o);
  f = apply(old, {0}, at(-2 * 86'400));
  EXPECT_NEAR(f[0], -1.0, 1e-12);
  EXPECT_NEAR(f[2], std::sin(two_pi * 0.75 / 7), 1e-12);
}

TEST(StreamContext, SeasonalResidualAgainstTheSameHour) {
  StreamContextOptions o;
  o.season = StreamContextOptions::Season::kDay;
  o.season_min_visits = 2;
  StreamContext c(1, o);
  // Value 10 at 03:00 and 50 at 15:00, every day.
  for (int day = 0; day < 3; ++day) {
    const auto night = apply(c, {10}, at(kMonday + day * 86'400 + 3 * 3600));
    const auto noon = apply(c, {50}, at(kMonday + day * 86'400 + 15 * 3600));
    if (day == 0) {
      EXPECT_EQ(night[0], 0.0);  // the first point: its own value is the mean
      EXPECT_EQ(noon[0], 40.0);  // 15:00 unseen: against the overall mean (10)
    } else if (day == 1) {
      EXPECT_EQ(night[0], 10 - 30.0);  // one visit < min_visits: the overall mean (10+50)/2
    } else {
      EXPECT_EQ(night[0], 0.0);  // its hour's mean
      EXPECT_EQ(noon[0], 0.0);
    }
  }
  // 50 at night is 40 off its hour although ordinary for the stream.
  EXPECT_EQ(apply(c, {50}, at(kMonday + 3 * 86'400 + 3 * 3600))[0], 40.0);
}

TEST(StreamContext, SeasonInDaysWeighsEachVisitByItsAge) {
  StreamContextOptions o;
  o.season_half_life_days = 2;
  o.season_min_visits = 1;
  StreamContext c(1, o);
  // Visits of the 10:00 slot at irregular times: some days several (minutes apart), some none.
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> minute(0, 59), visits(0, 4);
  std::normal_distribution<double> g(20, 5);
  std::vector<std::pair<double, double>> seen;  // (time in days, value)
  for (int day = 0; day < 20; ++day) {
    std::vector<int> minutes(static_cast<std::size_t>(visits(rng)));
    for (auto& m : minutes) m = minute(rng);
    std::sort(minutes.begin(), minutes.end());
    for (int m : minutes) {
      const std::int64_t t = kMonday + day * 86'400 + 10 * 3600 + m * 60;
      const double x = g(rng);
      const auto out = apply(c, {x}, at(t));
      if (!seen.empty()) {
        // The mean of the earlier visits, each weighted 2^(-its age in days / 2).
        const double now = static_cast<double>(t - kMonday) / 86'400;
        double sw = 0, swx = 0;
        for (const auto& [when, v] : seen) {
          sw += std::exp2(-(now - when) / 2);
          swx += std::exp2(-(now - when) / 2) * v;
        }
        EXPECT_NEAR(out[0], x - swx / sw, 1e-9) << "day " << day << " minute " << m;
      }
      seen.emplace_back(static_cast<double>(t - kMonday) / 86'400, x);
    }
  }
  ASSERT_GT(seen.size(), 20u);
}

TEST(StreamContext, ASlotIsKnownOnceVisitedOnMinDays) {
  StreamContextOptions o;
  o.season_half_life_days = 2;
  o.season_min_days = 2;  // season_min_visits stays 12: never reached here
  StreamContext c(1, o);
  // 10 at 03:00 (twice on the first day) and 50 at 15:00, every day.
  apply(c, {10}, at(kMonday + 3 * 3600));
  apply(c, {10}, at(kMonday + 3 * 3600 + 1800));                // the same day: still one day
  EXPECT_EQ(apply(c, {50}, at(kMonday + 15 * 3600))[0], 40.0);  // against the overall mean
  // Day 1: 03:00 was visited on one day only: the overall mean (10 + 10 + 50) / 3.
  EXPECT_DOUBLE_EQ(apply(c, {10}, at(kMonday + 86'400 + 3 * 3600))[0], 10 - 70.0 / 3);
  apply(c, {50}, at(kMonday + 86'400 + 15 * 3600));
  // Day 2: both hours were visited on two days: their own means.
  EXPECT_EQ(apply(c, {10}, at(kMonday + 2 * 86'400 + 3 * 3600))[0], 0.0);
  EXPECT_EQ(apply(c, {50}, at(kMonday + 2 * 86'400 + 15 * 3600))[0], 0.0);
  EXPECT_EQ(apply(c, {50}, at(kMonday + 3 * 86'400 + 3 * 3600))[0], 40.0);
}

TEST(StreamContext, SeasonSlotsOfAnyLengthThatDividesADay) {
  StreamContextOptions o;
  o.season = StreamContextOptions::Season::kWeek;
  o.season_slot_minutes = 15;
  o.season_min_visits = 1;
  StreamContext c(1, o);
  // Monday 10:00-10:15 and 10:15-10:30 are different slots; Tuesday 10:00 another.
  apply(c, {1}, at(kMonday + 10 * 3600));
  apply(c, {2}, at(kMonday + 10 * 3600 + 15 * 60));
  apply(c, {3}, at(kMonday + 86'400 + 10 * 3600));
  EXPECT_EQ(apply(c, {5}, at(kMonday + 7 * 86'400 + 10 * 3600 + 14 * 60))[0], 4.0);
  EXPECT_EQ(apply(c, {5}, at(kMonday + 7 * 86'400 + 10 * 3600 + 16 * 60))[0], 3.0);
  EXPECT_EQ(apply(c, {5}, at(kMonday + 8 * 86'400 + 10 * 3600 + 1))[0], 2.0);
  for (std::size_t bad : {0, 7, 2000}) {
    StreamContextOptions b = o;
    b.season_slot_minutes = bad;
    EXPECT_THROW(b.validate(), ConfigError) << bad;
  }
}

void save_load_round_trip(const StreamContextOptions& o);

TEST(StreamContext, SaveLoadIsExactAndRefusesOtherOptions) {
  for (const bool in_days : {false, true}) {
    SCOPED_TRACE(in_days ? "season in days" : "season in visits");
    StreamContextOptions o;
    o.season = StreamContextOptions::Season::kWeek;
    o.diff = true;
    o.lags = 3;
    o.time_features = true;
    o.season_half_life_days = in_days ? 3 : 0;
    o.season_min_days = in_days ? 2 : 0;
    save_load_round_trip(o);
  }
}

TEST(StreamContext, AStateFromBeforeTheSeasonInDaysLoadsWithVisitOptions) {
  StreamContextOptions visits;
  visits.season_half_life_days = 0;
  visits.season_min_days = 0;
  StreamContext a(1, visits);
  for (int i = 0; i < 30; ++i) apply(a, {static_cast<double>(i % 5)}, at(kMonday + i * 3600));
  auto state = a.save();
  // As such a state was written then: no season_half_life_days / season_min_days keys.
  state["options"].erase("season_half_life_days");
  state["options"].erase("season_min_days");
  StreamContext b(1, visits);
  b.load(state);
  EXPECT_EQ(apply(b, {3}, at(kMonday + 30 * 3600)), apply(a, {3}, at(kMonday + 30 * 3600)));
  // The defaults (in days) refuse it, saying why.
  StreamContext in_days(1, StreamContextOptions{});
  try {
    in_days.load(state);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("other options"));
  }
}

TEST(StreamContext, AStateInDaysNeedsItsDays) {
  StreamContextOptions o;
  o.season_half_life_days = 2;
  StreamContext a(1, o);
  apply(a, {1}, at(kMonday));
  auto state = a.save();
  ASSERT_TRUE(state.contains("slot_weight"));
  state.erase("slot_weight");
  StreamContext b(1, o);
  EXPECT_THROW(b.load(state), ConfigError);
  // A context in visits writes none of them.
  StreamContextOptions in_visits;
  in_visits.season_half_life_days = 0;
  in_visits.season_min_days = 0;
  StreamContext visits(1, in_visits);
  apply(visits, {1}, at(kMonday));
  EXPECT_FALSE(visits.save().contains("slot_weight"));
}

void save_load_round_trip(const StreamContextOptions& o) {
  StreamContext a(2, o);
  std::mt19937_64 rng(1);
  std::normal_distribution<double> g;
  for (int i = 0; i < 300; ++i) apply(a, {g(rng), g(rng)}, at(kMonday + i * 1800));
  StreamContext b(2, o);
  b.load(a.save());
  EXPECT_EQ(b.save(), a.save());
  for (int i = 300; i < 320; ++i) {
    const std::vector<double> x = {g(rng), g(rng)};
    EXPECT_EQ(apply(a, x, at(kMonday + i * 1800)), apply(b, x, at(kMonday + i * 1800)));
  }
  StreamContextOptions other = o;
  other.lags = 2;
  StreamContext c(2, other);
  EXPECT_THROW(c.load(a.save()), ConfigError);
  StreamContext wrong_dim(3, o);
  EXPECT_THROW(wrong_dim.load(a.save()), ConfigError);
}

TEST(StreamContext, BadInputAndOptionsAreNamed) {
  StreamContextOptions o;
  o.season = StreamContextOptions::Season::kNone;
  o.rate = true;
  StreamContext c(1, o);
  try {
    apply(c, {1}, std::nullopt);
    FAIL() << "no error";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("need each event's time"));
  }
  EXPECT_THROW(apply(c, {std::nan("")}, at(0)), InvalidArgument);
  EXPECT_THROW(apply(c, {1, 2}, at(0)), InvalidArgument);
  // Nothing was learned: the first good point still has no previous one.
  EXPECT_THAT(apply(c, {1}, at(10)), ElementsAre(1, 0));

  auto error_of = [](const nlohmann::json& j) {
    try {
      j.get<StreamContextOptions>();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(error_of({{"season", "month"}}), HasSubstr("context.season"));
  EXPECT_THAT(error_of({{"lags", 65}}), HasSubstr("context.lags"));
  EXPECT_THAT(error_of({{"level", false}}), HasSubstr("nothing to give the detectors"));
  EXPECT_THAT(error_of({{"utc_offset_minutes", 2000}}), HasSubstr("utc_offset_minutes"));
  EXPECT_THAT(error_of({{"season_half_life_days", -1}}), HasSubstr("season_half_life_days"));
  EXPECT_THAT(error_of({{"lag", 2}}), HasSubstr("lag"));
  StreamContextOptions some;
  some.diff = true;
  some.lags = 4;
  const nlohmann::json round = some;
  EXPECT_EQ(nlohmann::json(round.get<StreamContextOptions>()), round);
}

// A daily rhythm: hourly values 10 + 8 sin(2 pi h / 24) + noise. A daytime level at night is
// ordinary for the stream as a whole but not for that hour.
std::vector<std::pair<Timestamp, double>> daily_stream(int days, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0, 0.5);
  std::vector<std::pair<Timestamp, double>> out;
  for (int h = 0; h < days * 24; ++h) {
    out.emplace_back(at(kMonday + h * 3600),
                     10 + 8 * std::sin(2 * std::numbers::pi * (h % 24) / 24.0) + g(rng));
  }
  return out;
}

TEST(DetectorBankContext, SeasonalContextSeesWhatTheRawValuesHide) {
  auto stream = daily_stream(30, 2);
  const std::size_t night = 25 * 24 + 18;  // 18:00, the daily low (about 2)
  stream[night].second = 17.5;             // the daytime high, at night
  auto run = [&](bool seasonal) {
    DetectorBankOptions o;
    o.min_history = 0;
    o.hold_back_flagged = false;
    if (!seasonal) o.context.season = StreamContextOptions::Season::kNone;
    // The defaults on hourly points: an hour is known once seen on 2 days, and its mean
    // follows the last few days (half-life 2 days).
    DetectorBank bank(o);
    std::vector<double> p;
    for (const auto& [t, v] : stream) {
      const double x[] = {v};
      p.push_back(bank.observe("u", x, t).scores.at("zscore").p_value);
    }
    return p;
  };
  const auto raw = run(false), seasonal = run(true);
  EXPECT_GT(raw[night], 0.05);       // within the stream's usual range
  EXPECT_LT(seasonal[night], 1e-6);  // 30 noise sds off its hour
  // And the rhythm itself is not flagged once the hours are known.
  int seasonal_flags = 0;
  for (std::size_t i = 7 * 24; i < stream.size(); ++i) {
    if (i != night) seasonal_flags += seasonal[i] < 0.01;
  }
  EXPECT_LE(seasonal_flags, 12);  // ~1% of 551 points
}

TEST(DetectorBankContext, StateWithTheContextRestoresExactlyAndTimesAreRequired) {
  testing::TempDir tmp;
  DetectorBankOptions o;
  o.context.diff = true;
  o.context.rate = true;  // needs every point's time
  o.context.season_min_visits = 2;
  o.state_dir = tmp.path().string();
  o.min_history = 5;
  const auto stream = daily_stream(5, 3);
  DetectorBank a(o);
  for (std::size_t i = 0; i < 80; ++i) {
    const double x[] = {stream[i].second};
    a.observe("u", x, stream[i].first);
  }
  ASSERT_TRUE(a.save_user("u"));
  DetectorBank b(o);
  for (std::size_t i = 80; i < stream.size(); ++i) {
    const double x[] = {stream[i].second};
    EXPECT_EQ(nlohmann::json(a.observe("u", x, stream[i].first)),
              nlohmann::json(b.observe("u", x, stream[i].first)))
        << i;
  }
  const double x[] = {1.0};
  EXPECT_THROW(b.observe("u", x), InvalidArgument);
  EXPECT_EQ(b.user_events("u"), stream.size());

  // A state saved with a context is refused by a bank without one, naming the file.
  DetectorBankOptions plain;
  plain.context.season = StreamContextOptions::Season::kNone;
  plain.state_dir = o.state_dir;
  DetectorBank c(plain);
  try {
    c.observe("u", x);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("with a stream context"));
  }
}

}  // namespace
}  // namespace oap
