#include <algorithm>
#include <cmath>
#include <random>

#include "labelled_streams.hpp"

namespace oap_bench {
namespace {

constexpr std::int64_t kStart = 1'767'571'200;  // Monday 2026-01-05 00:00 UTC
constexpr std::int64_t kDay = 86'400;
constexpr int kDays = 28;

// Events per hour at each hour of the day, before the user's own activity factor.
double hourly_rate(int hour, bool weekend) {
  if (hour < 7) return 0.05;
  if (hour < 10) return 1.0;
  if (hour < 18) return weekend ? 1.2 : 0.6;
  if (hour < 23) return 2.0;
  return 0.8;
}

bool is_weekend(std::int64_t t) { return ((t - kStart) / kDay) % 7 >= 5; }
int hour_of(std::int64_t t) { return static_cast<int>(((t - kStart) % kDay) / 3600); }

}  // namespace

const std::vector<std::string>& behaviour_kinds() {
  static const std::vector<std::string> kinds = {"spike", "level_shift",    "variance",
                                                 "drift", "seasonal_break", "bot"};
  return kinds;
}

LabelledStream make_behaviour_stream(std::uint64_t seed) {
  std::mt19937_64 rng(seed * 104'729 + 5);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> gaussian;
  LabelledStream s;
  const double activity = 0.8 + 0.8 * u(rng);
  const double minutes_median = 5 + 10 * u(rng);
  const double basket_median = 15 + 45 * u(rng);
  const double mood = 0.1 + 0.4 * u(rng);
  const int noise_level = static_cast<int>(seed % 3);
  const double f = noise_level == 0 ? 0.6 : noise_level == 1 ? 1.0 : 1.6;
  const bool bursty = (seed / 3) % 2 == 1;
  s.noise = std::string(noise_level == 0   ? "low"
                        : noise_level == 1 ? "mid"
                                           : "high") +
            (bursty ? "/bursty" : "/gaussian");
  auto noise = [&] { return bursty ? student_t3(rng) : gaussian(rng); };
  const double sd_minutes = 0.3 * f, sd_pages = 2.0 * f, sd_basket = 0.35 * f, sd_mood = 0.12 * f;

  std::vector<std::int64_t> times;
  for (int h = 0; h < kDays * 24; ++h) {
    const std::int64_t hour_start = kStart + std::int64_t{h} * 3600;
    std::poisson_distribution<int> count(activity * hourly_rate(h % 24, is_weekend(hour_start)));
    for (int k = count(rng); k > 0; --k) {
      times.push_back(hour_start + static_cast<std::int64_t>(u(rng) * 3600));
    }
  }
  std::sort(times.begin(), times.end());

  // Anomalies: one or two, placed by event index after the probation, kinds cycling with the
  // seed; each is then fixed by its start time.
  const auto& kinds = behaviour_kinds();
  const std::size_t n_anomalies = 1 + (seed % 2);
  const std::size_t first = static_cast<std::size_t>(kProbation * times.size()) + 20;
  const std::size_t span = (times.size() - first - 60) / n_anomalies;
  std::vector<std::int64_t> start;
  for (std::size_t a = 0; a < n_anomalies; ++a) {
    const std::size_t at = first + a * span + static_cast<std::size_t>(u(rng) * (span - 120));
    s.kinds.push_back(kinds[(seed + a * 5) % 6]);
    std::int64_t t = times[at];
    if (s.kinds[a] == "seasonal_break") {  // from 06:00 of the next working day
      std::int64_t day = (t - kStart) / kDay + 1;
      while (is_weekend(kStart + day * kDay)) ++day;
      t = std::min(kStart + day * kDay + 6 * 3600, kStart + (kDays - 2) * kDay);
    }
    if (s.kinds[a] == "bot") {  // 20 extra events, one every 6 minutes
      ++t;
      for (int k = 0; k < 20; ++k) times.push_back(t + k * 360);
    }
    start.push_back(t);
  }
  std::sort(times.begin(), times.end());
  for (std::int64_t t : start) {
    s.anomalies.push_back(static_cast<std::size_t>(
        std::lower_bound(times.begin(), times.end(), t) - times.begin()));
  }

  for (std::size_t i = 0; i < times.size(); ++i) {
    const std::int64_t t = times[i];
    std::int64_t clock = t;  // the time the user's rhythm follows
    bool bot = false, spike = false, noisy = false;
    double minutes_shift = 0, basket_shift = 0;
    for (std::size_t a = 0; a < n_anomalies; ++a) {
      if (t < start[a]) continue;
      const std::string& k = s.kinds[a];
      const double since = static_cast<double>(t - start[a]);
      if (k == "spike" && i == s.anomalies[a]) spike = true;
      if (k == "level_shift") basket_shift += 3 * sd_basket;
      if (k == "variance" && since < kDay) noisy = true;
      if (k == "drift") minutes_shift += 4 * sd_minutes * std::min(1.0, since / (3.0 * kDay));
      if (k == "seasonal_break" && since < kDay) clock = t + 8 * 3600;
      if (k == "bot" && since < 20 * 360 && (t - start[a]) % 360 == 0) bot = true;
    }
    const int hour = hour_of(clock);
    const double weekend = is_weekend(clock) ? 1.0 : 0.0;
    const double evening = hour >= 18 && hour < 23 ? 1.0 : 0.0;
    const double morning = hour >= 6 && hour < 10 ? 1.0 : 0.0;
    const double night = hour < 6 ? 1.0 : 0.0;
    double minutes = std::exp(std::log(minutes_median) + 0.5 * evening + 0.25 * weekend -
                              0.3 * night + minutes_shift + sd_minutes * noise());
    double pages = std::max(1.0, 3 + 1.5 * minutes + sd_pages * noise());
    double basket =
        std::exp(std::log(basket_median) + 0.3 * weekend + basket_shift + sd_basket * noise());
    double sentiment = std::clamp(
        mood + 0.1 * evening - 0.15 * morning + sd_mood * (noisy ? 4 : 1) * noise(), -1.0, 1.0);
    if (spike) minutes *= 5, pages *= 5;
    if (bot) minutes = 1, pages = 30 + 10 * u(rng), basket = 0, sentiment = 0;
    s.time.push_back(oap::timestamp_from_micros(t * 1'000'000));
    s.x.push_back({minutes, pages, basket, sentiment});
  }
  return s;
}

}  // namespace oap_bench
