#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>

#include "labelled_streams.hpp"

namespace oap_bench {
namespace {

constexpr std::size_t kHours = 90 * 24;  // 2001-01-01 00:00 to 2001-03-31 23:00
constexpr std::size_t kHalf = kHours / 2;
constexpr std::int64_t kStart = 978'307'200;  // Monday 2001-01-01 00:00 (local time as UTC)
constexpr std::size_t kTuneAirports = 10, kReportAirports = 20;
constexpr int kDaysBefore[] = {0, 31, 59};  // first day of January, February, March (2001)

// The hour index of a "MMDDHHMM" departure time; -1 if it is not one.
long hour_index(const std::string& t) {
  if (t.size() != 8 || !std::all_of(t.begin(), t.end(), ::isdigit)) return -1;
  const int month = std::stoi(t.substr(0, 2)), day = std::stoi(t.substr(2, 2));
  const int hour = std::stoi(t.substr(4, 2));
  if (month < 1 || month > 3 || day < 1 || day > 31 || hour > 23) return -1;
  return (kDaysBefore[month - 1] + day - 1) * 24L + hour;
}

// The median of v (v is reordered).
double median(std::vector<double>& v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// The noise of an hourly series: 1.4826 x the median absolute deviation of its residuals from
// the median of the same hour of the week (over the series' weeks), at least 0.5.
double robust_sd(const std::vector<double>& x) {
  std::vector<double> residuals;
  for (std::size_t h = 0; h < 168; ++h) {
    std::vector<double> same;
    for (std::size_t i = h; i < x.size(); i += 168) same.push_back(x[i]);
    if (same.size() < 2) continue;
    auto sorted = same;
    const double m = median(sorted);
    for (double v : same) residuals.push_back(std::abs(v - m));
  }
  return std::max(0.5, 1.4826 * median(residuals));
}

}  // namespace

const std::vector<std::string>& flight_kinds() {
  static const std::vector<std::string> kinds = {"spike", "level_shift",    "variance",
                                                 "drift", "seasonal_break", "flatline"};
  return kinds;
}

FlightCorpus load_flight_corpus(const std::string& csv_path) {
  std::ifstream in(csv_path);
  if (!in) {
    throw std::runtime_error("cannot read " + csv_path + " (scripts/fetch_series.sh fetches it)");
  }
  std::string line;
  std::getline(in, line);
  if (line.rfind("date,delay,distance,origin,destination", 0) != 0) {
    throw std::runtime_error(csv_path +
                             ": line 1 is not the header of vega-datasets' "
                             "flights-3m.csv: " +
                             line.substr(0, 80));
  }
  std::map<std::string, std::vector<double>> by_airport;
  std::size_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    const auto c1 = line.find(','), c2 = line.find(',', c1 + 1), c3 = line.find(',', c2 + 1);
    const auto c4 = line.find(',', c3 + 1);
    const long h = c1 == std::string::npos ? -1 : hour_index(line.substr(0, c1));
    if (c4 == std::string::npos || h < 0) {
      throw std::runtime_error(
          csv_path + ":" + std::to_string(line_no) +
          ": not date,delay,distance,origin,destination: " + line.substr(0, 80));
    }
    auto& series = by_airport[line.substr(c3 + 1, c4 - c3 - 1)];
    series.resize(kHours, 0.0);
    series[static_cast<std::size_t>(h)] += 1;
  }
  std::vector<std::pair<double, std::string>> ranked;
  for (const auto& [airport, series] : by_airport) {
    double flights = 0;
    for (double v : series) flights += v;
    ranked.emplace_back(-flights, airport);
  }
  std::sort(ranked.begin(), ranked.end());
  if (ranked.size() < kTuneAirports + kReportAirports) {
    throw std::runtime_error(csv_path + ": " + std::to_string(ranked.size()) +
                             " airports, fewer than the 30 the corpus needs");
  }
  FlightCorpus c;
  for (std::size_t i = 0; i < kTuneAirports + kReportAirports; ++i) {
    c.airports.push_back(ranked[i].second);
    c.departures.push_back(by_airport.at(ranked[i].second));
  }
  return c;
}

std::size_t flight_stream_count() { return 2 * (kTuneAirports + kReportAirports); }

LabelledStream make_flight_stream(const FlightCorpus& c, std::uint64_t seed) {
  if (seed < 1 || seed > flight_stream_count()) {
    throw std::out_of_range("flight streams are seeds 1.." + std::to_string(flight_stream_count()));
  }
  // Seeds 1-20: the airports ranked 21-30 (tuning); 21-60: ranked 1-20 (held out). Each airport
  // gives two streams: 1 January - 14 February and 15 February - 31 March.
  const std::size_t k = seed - 1;
  const std::size_t airport =
      k < 2 * kTuneAirports ? kReportAirports + k / 2 : (k - 2 * kTuneAirports) / 2;
  const std::size_t from = (k % 2) * kHalf;
  std::vector<double> x(c.departures[airport].begin() + static_cast<long>(from),
                        c.departures[airport].begin() + static_cast<long>(from + kHalf));
  const std::vector<double> real = x;
  const double sd = robust_sd(x);

  std::mt19937_64 rng(seed * 6151 + 29);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> gaussian;
  LabelledStream s;
  s.noise = c.airports[airport] + (k % 2 ? " Feb-Mar" : " Jan-Feb") + " sd " +
            std::to_string(sd).substr(0, 4);
  const auto& kinds = flight_kinds();
  const std::size_t n_anomalies = 1 + (seed % 2);
  const std::size_t first = static_cast<std::size_t>(kProbation * kHalf) + 48;
  const std::size_t span = (kHalf - first - 72) / n_anomalies;
  for (std::size_t a = 0; a < n_anomalies; ++a) {
    std::size_t at = first + a * span + static_cast<std::size_t>(u(rng) * 0.6 * span);
    const std::string kind = kinds[(seed + a * 5) % kinds.size()];
    if (kind == "seasonal_break") {  // a working day from 06:00 (the corpus starts on a Monday)
      const std::size_t day0 = from / 24;
      at = at / 24 * 24 + 6;
      while ((day0 + at / 24) % 7 >= 5) at += 24;
    }
    s.anomalies.push_back(std::min(at, kHalf - 48));
    s.kinds.push_back(kind);
  }
  for (std::size_t a = 0; a < n_anomalies; ++a) {
    const std::size_t at = s.anomalies[a];
    const std::string& kind = s.kinds[a];
    const double sign = (seed + a) % 2 ? 1.0 : -1.0;
    for (std::size_t i = at; i < kHalf; ++i) {
      const double since = static_cast<double>(i - at);
      if (kind == "spike" && i == at) x[i] += (8 + 4 * u(rng)) * sd;
      if (kind == "level_shift") x[i] += sign * 4 * sd;
      if (kind == "variance" && since < 24) x[i] += 3 * sd * gaussian(rng);
      if (kind == "drift") x[i] += sign * 6 * sd * std::min(1.0, since / 48);
      if (kind == "seasonal_break" && since < 24) x[i] = real[i - 8];  // the clock 8 h behind
      if (kind == "flatline" && since < 17) x[i] = x[at];
    }
  }
  for (std::size_t i = 0; i < kHalf; ++i) {
    s.time.push_back(oap::timestamp_from_micros(
        (kStart + static_cast<std::int64_t>(from + i) * 3600) * 1'000'000));
    s.x.push_back({std::max(0.0, x[i])});  // departures are never negative
  }
  return s;
}

}  // namespace oap_bench
