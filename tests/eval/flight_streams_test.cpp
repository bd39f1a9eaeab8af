// stream_benchmark's real-series corpus (bench/flight_streams.cpp) on a made-up flights file:
// parsing, the airports' ranking, the tuning / held-out split and the injected anomalies.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "labelled_streams.hpp"
#include "test_util.hpp"

namespace oap_bench {
namespace {

using testing::HasSubstr;

// 31 airports; airport k has 40 - k flights a day (at hours 6.., one an hour, wrapping).
std::string write_flights(const std::filesystem::path& dir) {
  const auto path = (dir / "flights.csv").string();
  std::ofstream out(path);
  out << "date,delay,distance,origin,destination\n";
  const int month_days[] = {31, 28, 31};
  for (int k = 0; k <= 30; ++k) {
    char name[16];
    std::snprintf(name, sizeof name, "A%02d", k);
    for (int m = 0; m < 3; ++m) {
      for (int d = 1; d <= month_days[m]; ++d) {
        for (int f = 0; f < 40 - k; ++f) {
          char date[48];
          std::snprintf(date, sizeof date, "%02d%02d%02d%02d", m + 1, d, (6 + f) % 24, f % 60);
          out << date << ",5,300," << name << ",XYZ\n";
        }
      }
    }
  }
  return path;
}

TEST(FlightStreams, AirportsRankedAndSplitWithoutOverlap) {
  oap::testing::TempDir tmp;
  const auto corpus = load_flight_corpus(write_flights(tmp.path()));
  ASSERT_EQ(corpus.airports.size(), 30u);  // the 31st (fewest flights) is left out
  EXPECT_EQ(corpus.airports.front(), "A00");
  EXPECT_EQ(corpus.airports.back(), "A29");
  double flights = 0;
  for (double v : corpus.departures[0]) flights += v;
  EXPECT_EQ(corpus.departures[0].size(), 90u * 24);
  EXPECT_EQ(flights, 40.0 * 90);
  EXPECT_EQ(flight_stream_count(), 60u);
  std::set<std::string> tuning, held_out;
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    const auto s = make_flight_stream(corpus, seed);
    ASSERT_EQ(s.x.size(), 1080u);
    const std::string airport = s.noise.substr(0, 3);
    (seed <= 20 ? tuning : held_out).insert(airport);
    // The second half starts on 15 February 2001.
    const std::int64_t first = oap::to_micros(s.time.front()) / 1'000'000;
    EXPECT_EQ(first, 978'307'200 + (seed % 2 ? 0 : 1080 * 3600)) << seed;
    ASSERT_FALSE(s.anomalies.empty());
    for (auto a : s.anomalies) {
      EXPECT_GE(a, static_cast<std::size_t>(kProbation * 1080)) << seed;
      EXPECT_LT(a, 1080u) << seed;
    }
    for (const auto& x : s.x) EXPECT_GE(x[0], 0.0);
  }
  EXPECT_EQ(tuning.size(), 10u);
  EXPECT_EQ(held_out.size(), 20u);
  for (const auto& a : tuning) EXPECT_EQ(held_out.count(a), 0u) << a;
  EXPECT_THROW(make_flight_stream(corpus, 61), std::out_of_range);
}

TEST(FlightStreams, AnomaliesAreInjectedOnTheRealSeries) {
  oap::testing::TempDir tmp;
  const auto corpus = load_flight_corpus(write_flights(tmp.path()));
  // Seed 6: the airport ranked 23 (index 22), second half; its first anomaly is a spike.
  const auto s = make_flight_stream(corpus, 6);
  ASSERT_EQ(s.kinds.front(), "spike");
  const auto& real = corpus.departures[22];
  const std::size_t at = s.anomalies.front();
  EXPECT_GE(s.x[at][0] - real[1080 + at], 8 * 0.5);  // at least 8 noise sds (sd >= 0.5)
  EXPECT_EQ(s.x[at - 1][0], real[1080 + at - 1]);    // before it: the series itself
  // The same seed gives the same stream.
  const auto again = make_flight_stream(corpus, 6);
  EXPECT_EQ(again.x, s.x);
  EXPECT_EQ(again.anomalies, s.anomalies);
}

TEST(FlightStreams, ABadFileIsNamedWithItsLine) {
  oap::testing::TempDir tmp;
  const auto path = (tmp.path() / "bad.csv").string();
  std::ofstream(path) << "date,delay,distance,origin,destination\n01010600,1,2,A,B\n0101x600,1,2\n";
  try {
    load_flight_corpus(path);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("bad.csv:3"));
  }
  std::ofstream(path) << "time,count\n";
  EXPECT_THROW(load_flight_corpus(path), std::runtime_error);
  EXPECT_THROW(load_flight_corpus((tmp.path() / "none.csv").string()), std::runtime_error);
}

}  // namespace
}  // namespace oap_bench
