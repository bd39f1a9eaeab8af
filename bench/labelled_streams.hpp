// Labelled streams for stream_benchmark: seeded univariate metrics sampled every 5 minutes,
// seeded multivariate user-behaviour events at irregular times, and real hourly series with
// injected anomalies. Each has one or two labelled
// anomalies after the first kProbation share of its points (the probation, not scored).
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "oap/core/timestamp.hpp"

namespace oap_bench {

inline constexpr double kProbation = 0.15;

struct LabelledStream {
  std::vector<oap::Timestamp> time;
  std::vector<std::vector<double>> x;  // one vector of features per point, all the same size
  std::vector<std::size_t> anomalies;  // index of the first point of each labelled anomaly
  std::vector<std::string> kinds;      // the kind of each anomaly
  std::string noise;                   // the noise level and shape, e.g. "mid/bursty"
};

// Metric streams: one value per 5 minutes for 14 days (4032 points): a business-hours daily
// bump, quieter weekends, a slow trend, Gaussian or bursty (Student-t, 3 d.f.) noise at three
// levels. Anomalies: a spike, a level shift, a variance change (x4 for a day), a slow drift
// (6 sds over ~2 days, then stays), a seasonal break (one working day without its bump) or a
// flatline (a stuck sensor for ~17 hours).
LabelledStream make_metric_stream(std::uint64_t seed);
const std::vector<std::string>& metric_kinds();

// Behaviour streams: one user's events for 28 days (about 500-1000), arriving at a rate that
// follows the hour of the day (little at night, most in the evening), each a vector of four
// features: session minutes (log-normal, longer in the evening and at weekends), pages viewed
// (following the minutes), basket value (log-normal, higher at weekends) and sentiment (in
// [-1, 1], lower in the morning), with noise at three levels, Gaussian or bursty. Anomalies:
// a spike (one session of 5x the minutes and pages), a level shift (the basket value up by 3
// of its log-sds, lasting), a variance change (sentiment 4x as noisy for a day), a slow drift
// (session minutes up by 4 log-sds over 3 days, then staying), a seasonal break (for a day the
// features follow a clock 8 hours ahead, as after a flight) or a bot (20 extra events in two
// hours: one-minute sessions with many pages, no basket, flat sentiment).
LabelledStream make_behaviour_stream(std::uint64_t seed);
const std::vector<std::string>& behaviour_kinds();

// Real streams: hourly departures of one US airport (a real measured series: daily and weekly
// rhythm, holidays, weather, Poisson-like counts), from vega-datasets' flights-3m.csv
// (scripts/fetch_series.sh). The 30 airports with the most flights, each cut into two streams of
// 45 days (1080 points): 1 January - 14 February 2001 and 15 February - 31 March. Seeds 1-20
// are the airports ranked 21-30 (for tuning), seeds 21-60 those ranked 1-20 (held out): no
// airport is in both. One or two labelled anomalies are injected on the real series, scaled by
// its own noise (1.4826 x the MAD of the residuals from the median of the same hour of the
// week): a spike (+8-12 sds for an hour), a level shift (4 sds, lasting), a variance change (+3
// sds of Gaussian noise for a day), a slow drift (6 sds over 2 days, then staying), a seasonal
// break (a working day from 06:00 follows the clock 8 hours behind: the series' own values of 8
// hours earlier) or a flatline (stuck for 17 hours). Values are kept >= 0. The series' own,
// unlabelled anomalies (storms, holidays) stay in: an alarm on them counts as false.
struct FlightCorpus {
  std::vector<std::string> airports;            // the 30 airports, most flights first
  std::vector<std::vector<double>> departures;  // per airport: departures in each hour
};
// Throws std::runtime_error naming the file (and line) when it cannot be read or parsed.
FlightCorpus load_flight_corpus(const std::string& csv_path);
std::size_t flight_stream_count();  // 60
// seed in 1..flight_stream_count(); std::out_of_range otherwise.
LabelledStream make_flight_stream(const FlightCorpus& corpus, std::uint64_t seed);
const std::vector<std::string>& flight_kinds();

// A Student-t draw with 3 degrees of freedom scaled to unit variance: bursty noise.
double student_t3(std::mt19937_64& rng);

}  // namespace oap_bench
