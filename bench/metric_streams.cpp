#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>

#include "labelled_streams.hpp"

namespace oap_bench {
namespace {

constexpr std::int64_t kStep = 300;  // seconds between points
constexpr std::size_t kLength = 14 * 288;

}  // namespace

const std::vector<std::string>& metric_kinds() {
  static const std::vector<std::string> kinds = {"spike",   "level_shift",    "variance",
                                                 "drift",   "seasonal_break", "flatline"};
  return kinds;
}

double student_t3(std::mt19937_64& rng) {
  std::normal_distribution<double> g;
  std::chi_squared_distribution<double> c(3);
  return g(rng) / std::sqrt(c(rng) / 3) / std::sqrt(3.0);  // unit variance
}

LabelledStream make_metric_stream(std::uint64_t seed) {
  std::mt19937_64 rng(seed * 7919 + 17);
  std::uniform_real_distribution<double> u(0, 1);
  LabelledStream s;
  const auto& kinds = metric_kinds();
  const double base = 20 + 80 * u(rng);
  const double daily = 0.2 + 0.8 * u(rng);  // the bump's height, times base
  const double weekend = 0.3 + 0.6 * u(rng);
  const double trend = (u(rng) - 0.5) * 0.2 * base / kLength;
  const int noise_level = static_cast<int>(seed % 3);
  const double sd = base * (noise_level == 0 ? 0.02 : noise_level == 1 ? 0.06 : 0.15);
  const bool bursty = (seed / 3) % 2 == 1;
  s.noise = std::string(noise_level == 0   ? "low"
                        : noise_level == 1 ? "mid"
                                           : "high") +
            (bursty ? "/bursty" : "/gaussian");
  const std::int64_t start = 1'767'571'200;  // Monday 2026-01-05 00:00 UTC
  // Anomalies: one or two, their kinds cycling with the seed.
  const std::size_t n_anomalies = 1 + (seed % 2);
  const std::size_t first = static_cast<std::size_t>(kProbation * kLength) + 100;
  for (std::size_t a = 0; a < n_anomalies; ++a) {
    const std::size_t span = (kLength - first - 300) / n_anomalies;
    s.anomalies.push_back(first + a * span + static_cast<std::size_t>(u(rng) * (span - 600)));
    s.kinds.push_back(kinds[(seed + a * 5) % 6]);
  }
  // A seasonal break needs a working day: move it to the next Monday-Friday 06:00.
  for (std::size_t a = 0; a < n_anomalies; ++a) {
    if (s.kinds[a] != "seasonal_break") continue;
    std::size_t i = s.anomalies[a] / 288 * 288 + 72;
    while ((i / 288) % 7 >= 5) i += 288;
    s.anomalies[a] = std::min(i, kLength - 300);
  }
  double stuck = 0;
  for (std::size_t i = 0; i < kLength; ++i) {
    const double hour = static_cast<double>(i % 288) / 12.0;
    const bool weekday = (i / 288) % 7 < 5;
    double bump = hour > 7 && hour < 19 ? std::sin(std::numbers::pi * (hour - 7) / 12) : 0.0;
    double level = base * (1 + daily * bump * (weekday ? 1.0 : weekend)) + trend * i;
    double noise = (bursty ? student_t3(rng) : std::normal_distribution<double>()(rng)) * sd;
    double v = level + noise;
    for (std::size_t a = 0; a < n_anomalies; ++a) {
      const std::size_t at = s.anomalies[a];
      if (i < at) continue;
      const std::string& k = s.kinds[a];
      const double sign = (seed + a) % 2 ? 1.0 : -1.0;
      if (k == "spike" && i == at) v += sign * (8 + 4 * u(rng)) * sd;
      if (k == "level_shift") v += sign * 4 * sd;
      if (k == "variance" && i < at + 288) v += 3 * noise;
      if (k == "drift") v += sign * 6 * sd * std::min(1.0, static_cast<double>(i - at) / 576);
      if (k == "seasonal_break" && i < at + 156) v = base + trend * i + noise;
      if (k == "flatline" && i < at + 200) {
        if (i == at) stuck = v;
        v = stuck;
      }
    }
    s.time.push_back(
        oap::timestamp_from_micros((start + static_cast<std::int64_t>(i) * kStep) * 1'000'000));
    s.x.push_back({v});
  }
  return s;
}

}  // namespace oap_bench
