// Seeded labelled streams for stream_benchmark: univariate metrics sampled every 5 minutes, and
// multivariate user-behaviour events at irregular times. Each has one or two labelled
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

// A Student-t draw with 3 degrees of freedom scaled to unit variance: bursty noise.
double student_t3(std::mt19937_64& rng);

}  // namespace oap_bench
