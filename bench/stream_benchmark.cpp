// stream_benchmark: detectors on realistic labelled metric streams, scored with labelled-window
// rules (early detection rewarded, false alarms charged, one threshold for the whole corpus).
//
// Streams (seeded, univariate, one point per 5 minutes for 14 days = 4032 points): a base
// level with a business-hours daily bump, quieter weekends, a slow trend, Gaussian or bursty
// (Student-t, 3 degrees of freedom) noise at three levels, and one or two labelled anomalies
// after the first 15% (the probation period, not scored): a spike, a level shift, a variance
// change (x4 for a day), a slow drift (ramp of 6 sds over ~2 days, then stays), a seasonal
// break (one working day without its daily bump) or a flatline (a stuck sensor for ~17 hours).
//
// Scoring (the rules of the Numenta Anomaly Benchmark's standard profile, written from its
// paper): each anomaly gets a window of 10% of the stream's length divided by the number of
// anomalies, centred on its start. In a window only the first alarm counts, rewarded
// A_TP * sigma(y) with y the alarm's position relative to the window's end (-1 at the start,
// 0 at the end) and sigma(y) = 2 / (1 + e^(5y)) - 1; a window without an alarm costs A_FN = 1;
// an alarm outside every window costs A_FP = 0.11, scaled by sigma of its distance after the
// preceding window (in window lengths) when it falls within one window length after it.
// Score = 100 * (raw - null) / (perfect - null), where null raises no alarm and perfect alarms
// at each window's start. An alarm is p < threshold; the threshold is the detector's best on
// the tuning streams (seeds 1..tune), and the score reported is on the held-out streams
// (seeds tune+1..tune+report), at that threshold.
//
// Detectors: oap configurations through a DetectorBank (one user per stream; the alarm
// p-value is the smallest over the bank's detectors times their number, as the deviation
// policy reads it), and classical baselines written here: a windowed Gaussian (the point
// against the mean and sd of the previous 1000 points), a k-NN conformal detector (shingles of
// 8 values; mean distance to the 5 nearest of the previous 1000 shingles; conformal p-value
// among the last 500 such scores), a sliding-window isolation forest over the same shingles
// (oap's IsolationForestDetector) and a robust random cut forest on them (random_cut_forest.hpp,
// the same conformal p-value).
//
//   stream_benchmark [--tune N] [--report N] [--example FILE] [--json FILE]
//   --example: the shipped example configuration (default examples/data/detectors.json,
//              relative to the working folder), evaluated as "oap example ensemble"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "oap/core/json_config.hpp"
#include "oap/detect/detector_bank.hpp"
#include "oap/detect/detector_factory.hpp"
#include "oap/detect/distributions.hpp"
#include "random_cut_forest.hpp"

namespace {

constexpr std::int64_t kStep = 300;  // seconds between points
constexpr std::size_t kLength = 14 * 288;
constexpr double kProbation = 0.15;
const char* kKinds[] = {"spike", "level_shift", "variance", "drift", "seasonal_break", "flatline"};

struct Stream {
  std::vector<oap::Timestamp> time;
  std::vector<double> value;
  std::vector<std::size_t> anomalies;  // start index of each labelled anomaly
  std::vector<std::string> kinds;
  std::string noise;
};

double student_t3(std::mt19937_64& rng) {
  std::normal_distribution<double> g;
  std::chi_squared_distribution<double> c(3);
  return g(rng) / std::sqrt(c(rng) / 3) / std::sqrt(3.0);  // unit variance
}

Stream make_stream(std::uint64_t seed) {
  std::mt19937_64 rng(seed * 7919 + 17);
  std::uniform_real_distribution<double> u(0, 1);
  Stream s;
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
    s.kinds.push_back(kKinds[(seed + a * 5) % 6]);
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
    s.value.push_back(v);
  }
  return s;
}

// ---- scoring ----

double scaled_sigmoid(double y) { return 2 / (1 + std::exp(5 * y)) - 1; }

struct Outcome {
  double raw = 0, null = 0, perfect = 0;
  int tp = 0, fn = 0, fp = 0;
  std::map<std::string, std::pair<int, int>> by_kind;  // kind -> (detected, total)
};

void score_stream(const Stream& s, const std::vector<double>& p, double threshold, Outcome& o) {
  const double a_tp = 1, a_fn = 1, a_fp = 0.11;
  const std::size_t probation = static_cast<std::size_t>(kProbation * kLength);
  const double width = 0.1 * kLength / s.anomalies.size();
  struct Window {
    double begin, end;
    bool hit = false;
  };
  std::vector<Window> windows;
  for (auto a : s.anomalies) {
    windows.push_back({static_cast<double>(a) - width / 2, static_cast<double>(a) + width / 2});
  }
  for (std::size_t i = probation; i < p.size(); ++i) {
    if (!(p[i] < threshold)) continue;
    const double x = static_cast<double>(i);
    bool inside = false;
    for (auto& w : windows) {
      if (x >= w.begin && x <= w.end) {
        inside = true;
        if (!w.hit) {
          w.hit = true;
          o.raw += a_tp * scaled_sigmoid((x - w.end) / (w.end - w.begin));
          ++o.tp;
        }
      }
    }
    if (inside) continue;
    ++o.fp;
    double penalty = -a_fp;
    for (const auto& w : windows) {
      const double after = (x - w.end) / (w.end - w.begin);
      if (after > 0 && after <= 1) penalty = a_fp * scaled_sigmoid(after);
    }
    o.raw += penalty;
  }
  for (std::size_t k = 0; k < windows.size(); ++k) {
    auto& [detected, total] = o.by_kind[s.kinds[k]];
    ++total;
    if (windows[k].hit) {
      ++detected;
    } else {
      o.raw -= a_fn;
      ++o.fn;
    }
    o.null -= a_fn;
    o.perfect += a_tp * scaled_sigmoid(-1.0);
  }
}

double normalized(const Outcome& o) { return 100 * (o.raw - o.null) / (o.perfect - o.null); }

// ---- detectors: p-value per point ----

using Runner = std::function<std::vector<double>(const Stream&)>;

Runner bank_runner(const nlohmann::json& detect_section) {
  return [detect_section](const Stream& s) {
    auto options = detect_section.get<oap::DetectorBankOptions>();
    oap::DetectorBank bank(options);
    std::vector<double> p;
    p.reserve(s.value.size());
    for (std::size_t i = 0; i < s.value.size(); ++i) {
      const double x[] = {s.value[i]};
      const auto obs = bank.observe("stream", x, s.time[i]);
      double smallest = 1;
      for (const auto& [name, score] : obs.scores) smallest = std::min(smallest, score.p_value);
      p.push_back(std::min(1.0, smallest * static_cast<double>(obs.scores.size())));
    }
    return p;
  };
}

std::vector<double> windowed_gaussian(const Stream& s) {
  const std::size_t w = 1000;
  std::vector<double> p;
  double sum = 0, sum2 = 0;
  for (std::size_t i = 0; i < s.value.size(); ++i) {
    const std::size_t n = std::min(i, w);
    if (n < 30) {
      p.push_back(1);
    } else {
      const double mean = sum / n, var = std::max(sum2 / n - mean * mean, 1e-12);
      p.push_back(oap::normal_two_sided_p((s.value[i] - mean) / std::sqrt(var)));
    }
    sum += s.value[i];
    sum2 += s.value[i] * s.value[i];
    if (i >= w) {
      sum -= s.value[i - w];
      sum2 -= s.value[i - w] * s.value[i - w];
    }
  }
  return p;
}

std::vector<std::vector<double>> shingles(const Stream& s, std::size_t l) {
  std::vector<std::vector<double>> out;
  for (std::size_t i = 0; i < s.value.size(); ++i) {
    std::vector<double> sh(l);
    for (std::size_t k = 0; k < l; ++k) sh[k] = i >= k ? s.value[i - k] : s.value[0];
    out.push_back(std::move(sh));
  }
  return out;
}

// A conformal p-value: the share of the last `window` scores at least as large as this one
// (1 until 30 scores have been seen); each score then joins the window.
class ConformalP {
 public:
  explicit ConformalP(std::size_t window) : window_(window) {}
  double operator()(double score) {
    std::size_t at_least = 0;
    for (double r : recent_) at_least += r >= score;
    const double p = recent_.size() < 30 ? 1.0
                                         : static_cast<double>(1 + at_least) /
                                               static_cast<double>(1 + recent_.size());
    recent_.push_back(score);
    if (recent_.size() > window_) recent_.pop_front();
    return p;
  }

 private:
  std::size_t window_;
  std::deque<double> recent_;
};

std::vector<double> knn_conformal(const Stream& s) {
  const std::size_t l = 8, w = 1000, k = 5;
  const auto sh = shingles(s, l);
  ConformalP conformal(500);
  std::vector<double> p;
  std::vector<double> d;
  for (std::size_t i = 0; i < sh.size(); ++i) {
    const std::size_t from = i > w ? i - w : 0;
    if (i - from < 50) {
      p.push_back(1);
      continue;
    }
    d.clear();
    for (std::size_t j = from; j < i; ++j) {
      double dist = 0;
      for (std::size_t q = 0; q < l; ++q) dist += (sh[i][q] - sh[j][q]) * (sh[i][q] - sh[j][q]);
      d.push_back(std::sqrt(dist));
    }
    std::nth_element(d.begin(), d.begin() + (k - 1), d.end());
    double score = 0;
    for (std::size_t q = 0; q < k; ++q) score += d[q];
    p.push_back(conformal(score));
  }
  return p;
}

// Shingles of 8 values, 50 trees of the last 256 shingles, CoDisp averaged over the trees
// (the configuration of the paper's and the rrcf package's examples), conformal p as k-NN's.
std::vector<double> random_cut_forest(const Stream& s) {
  oap_bench::RandomCutForest forest(8, 50, 256, 11);
  ConformalP conformal(500);
  std::vector<double> p;
  std::size_t i = 0;
  for (const auto& sh : shingles(s, 8)) {
    const double score = forest.score_and_update(sh);
    p.push_back(i++ < 50 ? 1.0 : conformal(score));
  }
  return p;
}

std::vector<double> forest_shingles(const Stream& s) {
  auto forest = oap::make_detector(
      {{"type", "isolation_forest"}, {"options", {{"window", 512}, {"seed", 3}}}}, 8);
  std::vector<double> p;
  oap::Score score;
  for (const auto& sh : shingles(s, 8)) {
    forest->score_and_update(sh, score);
    p.push_back(score.p_value);
  }
  return p;
}

struct Candidate {
  std::string name;
  Runner run;
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t tune = 20, report = 40;
  std::string example_path = "examples/data/detectors.json", json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--tune") {
      tune = std::stoul(next());
    } else if (a == "--report") {
      report = std::stoul(next());
    } else if (a == "--example") {
      example_path = next();
    } else if (a == "--json") {
      json_path = next();
    } else {
      std::fprintf(
          stderr,
          "usage: stream_benchmark [--tune N] [--report N] [--example FILE] [--json FILE]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  const nlohmann::json example = oap::load_json_file(example_path).at("detect");
  auto zscore = nlohmann::json::parse(R"({"detectors": {"z": {"type": "zscore"}}})");
  auto with = [](nlohmann::json j, const nlohmann::json& patch) {
    j.merge_patch(patch);
    return j;
  };
  const auto season = nlohmann::json::parse(
      R"({"context": {"season": "day", "season_half_life": 24, "season_min_visits": 12}})");
  // The likelihood must see every point (a held-back point would freeze its windows).
  const auto likelihood = nlohmann::json::parse(
      R"({"detectors": {"l": {"type": "likelihood", "inner": {"type": "zscore"}}}, "hold_back_flagged": false})");
  std::vector<Candidate> candidates = {
      {"oap default (zscore)", bank_runner(nlohmann::json::object())},
      {"oap example ensemble", bank_runner(example)},
      {"zscore ewma (half-life 1 day)",
       bank_runner(nlohmann::json::parse(
           R"({"detectors": {"z": {"type": "zscore", "options": {"mode": "ewma", "half_life": 288}}}})"))},
      {"zscore, no hold-back", bank_runner(with(zscore, {{"hold_back_flagged", false}}))},
      {"zscore + daily season", bank_runner(with(zscore, season))},
      {"zscore + daily season, no hold-back",
       bank_runner(with(with(zscore, season), {{"hold_back_flagged", false}}))},
      {"zscore ewma + daily season",
       bank_runner(with(
           nlohmann::json::parse(
               R"({"detectors": {"z": {"type": "zscore", "options": {"mode": "ewma", "half_life": 288}}}})"),
           season))},
      {"zscore + daily season, 15-min slots",
       bank_runner(with(zscore, {{"context",
                                  {{"season", "day"},
                                   {"season_slot_minutes", 15},
                                   {"season_half_life", 3},
                                   {"season_min_visits", 2}}}}))},
      {"zscore + daily season, 5-min slots",
       bank_runner(with(zscore, {{"context",
                                  {{"season", "day"},
                                   {"season_slot_minutes", 5},
                                   {"season_half_life", 3},
                                   {"season_min_visits", 2}}}}))},
      {"zscore + daily season + diff",
       bank_runner(with(with(zscore, season), {{"context", {{"diff", true}}}}))},
      {"likelihood(zscore)", bank_runner(likelihood)},
      {"likelihood(zscore) + daily season", bank_runner(with(likelihood, season))},
      {"baseline: windowed Gaussian", windowed_gaussian},
      {"baseline: k-NN conformal", knn_conformal},
      {"baseline: isolation forest on shingles", forest_shingles},
      {"baseline: random cut forest on shingles", random_cut_forest},
  };
  const std::vector<double> thresholds = {1e-2, 3e-3, 1e-3, 3e-4,  1e-4,  3e-5, 1e-5,
                                          1e-6, 1e-7, 1e-8, 1e-10, 1e-13, 1e-16};
  std::vector<Stream> streams;
  for (std::size_t seed = 1; seed <= tune + report; ++seed) streams.push_back(make_stream(seed));

  nlohmann::json out = {{"tune_streams", tune},
                        {"report_streams", report},
                        {"points", kLength},
                        {"detectors", nlohmann::json::array()}};
  std::printf(
      "| detector | threshold (tuned) | score, tuning | score, held out | TP / FN / FP (held out) "
      "| ");
  for (const char* k : kKinds) std::printf("%s | ", k);
  std::printf("us / point |\n|---|---|---|---|---|");
  for (std::size_t k = 0; k < 6; ++k) std::printf("---|");
  std::printf("---|\n");
  for (const auto& c : candidates) {
    std::vector<std::vector<double>> p;
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& s : streams) p.push_back(c.run(s));
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
        static_cast<double>(streams.size() * kLength);
    auto outcome = [&](double thr, std::size_t from, std::size_t to) {
      Outcome o;
      for (std::size_t i = from; i < to; ++i) score_stream(streams[i], p[i], thr, o);
      return o;
    };
    double best = thresholds[0], best_score = -1e300;
    for (double thr : thresholds) {
      const double sc = normalized(outcome(thr, 0, tune));
      if (sc > best_score) best_score = sc, best = thr;
    }
    const Outcome held = outcome(best, tune, tune + report);
    std::printf("| %s | %.0e | %.1f | %.1f | %d / %d / %d | ", c.name.c_str(), best, best_score,
                normalized(held), held.tp, held.fn, held.fp);
    nlohmann::json kinds = nlohmann::json::object();
    for (const char* k : kKinds) {
      auto it = held.by_kind.find(k);
      const auto [d, t] = it == held.by_kind.end() ? std::pair<int, int>{0, 0} : it->second;
      std::printf("%d/%d | ", d, t);
      kinds[k] = {{"detected", d}, {"total", t}};
    }
    std::printf("%.2f |\n", us);
    std::fflush(stdout);
    out["detectors"].push_back({{"name", c.name},
                                {"threshold", best},
                                {"score_tuning", best_score},
                                {"score_heldout", normalized(held)},
                                {"tp", held.tp},
                                {"fn", held.fn},
                                {"fp", held.fp},
                                {"by_kind", kinds},
                                {"us_per_point", us}});
  }
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(1) << "\n";
  return 0;
}
