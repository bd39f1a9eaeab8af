// stream_benchmark: detectors on realistic labelled streams, scored with labelled-window
// rules (early detection rewarded, false alarms charged, one threshold for the whole corpus).
//
// Streams (labelled_streams.hpp, seeded): univariate metrics (one point per 5 minutes for 14
// days: daily and weekly rhythm, trend, noise at three levels; spikes, level shifts, variance
// changes, slow drifts, seasonal breaks, flatlines) and multivariate user behaviour (one user's
// events at irregular times for 28 days, four features with daily and weekly rhythm; spikes,
// level shifts, variance changes, slow drifts, seasonal breaks, bots), and real hourly series
// (departures of one airport, January-March 2001) with the metric kinds injected. One or two
// labelled anomalies per stream after the first 15% (the probation period, not scored).
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
//   stream_benchmark [--tune N] [--report N] [--corpus metric|behaviour|flights|both|all]
//                    [--series FILE] [--example FILE] [--json FILE]
//   --corpus: the univariate metric streams, the multivariate behaviour streams, the real
//             hourly flight series (labelled_streams.hpp), metric and behaviour (both, the
//             default) or all three
//   --series: flights-3m.csv (default .cache/series/flights-3m.csv, relative to the working
//             folder; scripts/fetch_series.sh fetches it)
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

#include "labelled_streams.hpp"
#include "oap/core/json_config.hpp"
#include "oap/detect/detector_bank.hpp"
#include "oap/detect/detector_factory.hpp"
#include "oap/detect/distributions.hpp"
#include "random_cut_forest.hpp"

namespace {

using Stream = oap_bench::LabelledStream;
using oap_bench::kProbation;

// ---- scoring ----

double scaled_sigmoid(double y) { return 2 / (1 + std::exp(5 * y)) - 1; }

struct Outcome {
  double raw = 0, null = 0, perfect = 0;
  int tp = 0, fn = 0, fp = 0;
  std::map<std::string, std::pair<int, int>> by_kind;  // kind -> (detected, total)
};

void score_stream(const Stream& s, const std::vector<double>& p, double threshold, Outcome& o) {
  const double a_tp = 1, a_fn = 1, a_fp = 0.11;
  const double length = static_cast<double>(p.size());
  const std::size_t probation = static_cast<std::size_t>(kProbation * length);
  const double width = 0.1 * length / static_cast<double>(s.anomalies.size());
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

// with_shift: a sustained shift reported by the user's shift monitor is an alarm too (p = 0).
Runner bank_runner(const nlohmann::json& detect_section, bool with_shift = false) {
  return [detect_section, with_shift](const Stream& s) {
    auto options = detect_section.get<oap::DetectorBankOptions>();
    oap::DetectorBank bank(options);
    std::vector<double> p;
    p.reserve(s.x.size());
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      const auto obs = bank.observe("stream", s.x[i], s.time[i]);
      double smallest = 1;
      for (const auto& [name, score] : obs.scores) smallest = std::min(smallest, score.p_value);
      const bool shift = with_shift && obs.shift.state == oap::ShiftState::kSustained;
      p.push_back(shift ? 0.0 : std::min(1.0, smallest * static_cast<double>(obs.scores.size())));
    }
    return p;
  };
}

// Each feature against the mean and sd of its previous 1000 values; the smallest two-sided
// p-value times the number of features (Bonferroni).
std::vector<double> windowed_gaussian(const Stream& s) {
  const std::size_t w = 1000, d = s.x[0].size();
  std::vector<double> p, sum(d, 0.0), sum2(d, 0.0);
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    const std::size_t n = std::min(i, w);
    double smallest = 1;
    for (std::size_t f = 0; f < d && n >= 30; ++f) {
      const double mean = sum[f] / n, var = std::max(sum2[f] / n - mean * mean, 1e-12);
      smallest = std::min(smallest, oap::normal_two_sided_p((s.x[i][f] - mean) / std::sqrt(var)));
    }
    p.push_back(std::min(1.0, smallest * static_cast<double>(d)));
    for (std::size_t f = 0; f < d; ++f) {
      sum[f] += s.x[i][f];
      sum2[f] += s.x[i][f] * s.x[i][f];
      if (i >= w) {
        sum[f] -= s.x[i - w][f];
        sum2[f] -= s.x[i - w][f] * s.x[i - w][f];
      }
    }
  }
  return p;
}

// Shingles for the distance and tree baselines: the newest 8 / d points concatenated (8 values
// of a univariate stream, 2 vectors of 4 features), newest first. Multivariate features are
// first standardized by their mean and sd over the probation (their scales differ).
std::vector<std::vector<double>> shingles(const Stream& s) {
  const std::size_t d = s.x[0].size(), l = std::max<std::size_t>(1, 8 / d);
  std::vector<double> mean(d, 0.0), sd(d, 1.0);
  if (d > 1) {
    const std::size_t n = static_cast<std::size_t>(kProbation * static_cast<double>(s.x.size()));
    for (std::size_t f = 0; f < d; ++f) {
      double sum = 0, sum2 = 0;
      for (std::size_t i = 0; i < n; ++i) sum += s.x[i][f], sum2 += s.x[i][f] * s.x[i][f];
      mean[f] = sum / n;
      sd[f] = std::sqrt(std::max(sum2 / n - mean[f] * mean[f], 1e-12));
    }
  }
  std::vector<std::vector<double>> out;
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    std::vector<double> sh(l * d);
    for (std::size_t k = 0; k < l; ++k) {
      const auto& x = s.x[i >= k ? i - k : 0];
      for (std::size_t f = 0; f < d; ++f) sh[k * d + f] = (x[f] - mean[f]) / sd[f];
    }
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
  const std::size_t w = 1000, k = 5;
  const auto sh = shingles(s);
  const std::size_t l = sh[0].size();
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
  const auto all = shingles(s);
  oap_bench::RandomCutForest forest(all[0].size(), 50, 256, 11);
  ConformalP conformal(500);
  std::vector<double> p;
  std::size_t i = 0;
  for (const auto& sh : all) {
    const double score = forest.score_and_update(sh);
    p.push_back(i++ < 50 ? 1.0 : conformal(score));
  }
  return p;
}

std::vector<double> forest_shingles(const Stream& s) {
  const auto all = shingles(s);
  auto forest = oap::make_detector(
      {{"type", "isolation_forest"}, {"options", {{"window", 512}, {"seed", 3}}}}, all[0].size());
  std::vector<double> p;
  oap::Score score;
  for (const auto& sh : all) {
    forest->score_and_update(sh, score);
    p.push_back(score.p_value);
  }
  return p;
}

struct Candidate {
  std::string name;
  Runner run;
};

const std::vector<double> kThresholds = {1e-1, 3e-2, 1e-2, 3e-3, 1e-3,  3e-4,  1e-4, 3e-5,
                                         1e-5, 1e-6, 1e-7, 1e-8, 1e-10, 1e-13, 1e-16};

// Runs every candidate on streams 1..tune (threshold chosen there) and tune+1..tune+report
// (scored at that threshold); prints a Markdown table and returns the same as JSON.
nlohmann::json evaluate(const std::string& corpus, const std::function<Stream(std::uint64_t)>& make,
                        const std::vector<std::string>& kinds,
                        const std::vector<Candidate>& candidates, std::size_t tune,
                        std::size_t report) {
  std::vector<Stream> streams;
  std::size_t points = 0;
  for (std::size_t seed = 1; seed <= tune + report; ++seed) {
    streams.push_back(make(seed));
    points += streams.back().x.size();
  }
  nlohmann::json out = {{"points", points}, {"detectors", nlohmann::json::array()}};
  std::printf("\n%s streams: %zu points in %zu streams\n\n", corpus.c_str(), points,
              streams.size());
  std::printf(
      "| detector | threshold (tuned) | score, tuning | score, held out | TP / FN / FP (held out) "
      "| ");
  for (const auto& k : kinds) std::printf("%s | ", k.c_str());
  std::printf("us / point |\n|---|---|---|---|---|");
  for (std::size_t k = 0; k < kinds.size(); ++k) std::printf("---|");
  std::printf("---|\n");
  for (const auto& c : candidates) {
    std::vector<std::vector<double>> p;
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& s : streams) p.push_back(c.run(s));
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
        static_cast<double>(points);
    auto outcome = [&](double thr, std::size_t from, std::size_t to) {
      Outcome o;
      for (std::size_t i = from; i < to; ++i) score_stream(streams[i], p[i], thr, o);
      return o;
    };
    double best = kThresholds[0], best_score = -1e300;
    for (double thr : kThresholds) {
      const double sc = normalized(outcome(thr, 0, tune));
      if (sc > best_score) best_score = sc, best = thr;
    }
    const Outcome held = outcome(best, tune, tune + report);
    std::printf("| %s | %.0e | %.1f | %.1f | %d / %d / %d | ", c.name.c_str(), best, best_score,
                normalized(held), held.tp, held.fn, held.fp);
    nlohmann::json by_kind = nlohmann::json::object();
    for (const auto& k : kinds) {
      auto it = held.by_kind.find(k);
      const auto [d, t] = it == held.by_kind.end() ? std::pair<int, int>{0, 0} : it->second;
      std::printf("%d/%d | ", d, t);
      by_kind[k] = {{"detected", d}, {"total", t}};
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
                                {"by_kind", by_kind},
                                {"us_per_point", us}});
  }
  return out;
}

int run(std::size_t tune, std::size_t report, const std::string& corpus,
        const std::string& example_path, const std::string& series_path,
        const std::string& json_path) {
  const nlohmann::json example = oap::load_json_file(example_path).at("detect");
  auto zscore = nlohmann::json::parse(R"({"detectors": {"z": {"type": "zscore"}}})");
  auto with = [](nlohmann::json j, const nlohmann::json& patch) {
    j.merge_patch(patch);
    return j;
  };
  // The default daily season (its memory in days).
  const auto season = nlohmann::json::parse(R"({"context": {"season": "day"}})");
  // The daily season in visits: the default until 2026-12-01.
  const auto season_in_visits = nlohmann::json::parse(
      R"({"context": {"season": "day", "season_half_life": 24, "season_min_visits": 12,
                      "season_half_life_days": 0, "season_min_days": 0}})");
  const auto mahalanobis =
      nlohmann::json::parse(R"({"detectors": {"m": {"type": "mahalanobis"}}})");
  // The likelihood must see every point (a held-back point would freeze its windows).
  const auto likelihood = nlohmann::json::parse(
      R"({"detectors": {"l": {"type": "likelihood", "inner": {"type": "zscore"}}},
          "hold_back_flagged": false})");
  const auto ewma = nlohmann::json::parse(
      R"({"detectors": {"z": {"type": "zscore", "options": {"mode": "ewma", "half_life": 288}}}})");
  const auto sum_squares = nlohmann::json::parse(
      R"({"detectors": {"z": {"type": "zscore", "options": {"combine": "sum_squares"}}}})");
  // Daily slots of a few minutes (a few visits a day each), in visits: known after 2 visits.
  auto short_slots = [](int minutes) {
    return nlohmann::json{{"context",
                           {{"season", "day"},
                            {"season_slot_minutes", minutes},
                            {"season_half_life", 3},
                            {"season_min_visits", 2},
                            {"season_half_life_days", 0},
                            {"season_min_days", 0}}}};
  };
  // A season whose memory is counted in days of the stream's time.
  auto in_days = [](const char* season, double half_life_days, int min_days) {
    return nlohmann::json{{"context",
                           {{"season", season},
                            {"season_half_life_days", half_life_days},
                            {"season_min_days", min_days}}}};
  };
  // Flagged points kept out of the detectors' state (the Personalizer's setting).
  const auto hold_back = nlohmann::json::parse(R"({"hold_back_flagged": true})");
  // The identity context (the default's season is the daily one).
  const auto none = nlohmann::json::parse(R"({"context": {"season": "none"}})");
  std::vector<Candidate> candidates = {
      {"oap default (zscore, daily season in days, no hold-back)",
       bank_runner(nlohmann::json::object())},
      {"oap default, a sustained shift also alarms", bank_runner(nlohmann::json::object(), true)},
      {"zscore + daily season in days, hold-back", bank_runner(with(zscore, hold_back))},
      {"zscore + daily season in days, hold-back, a sustained shift also alarms",
       bank_runner(with(zscore, hold_back), true)},
      {"zscore + daily season in visits, hold-back (the default until 2026-12-01)",
       bank_runner(with(with(zscore, season_in_visits), hold_back))},
      {"zscore, no context, hold-back (the default before that)",
       bank_runner(with(with(zscore, none), hold_back))},
      {"oap example ensemble (daily season)", bank_runner(example)},
      {"oap example ensemble, no context", bank_runner(with(example, none))},
      {"zscore ewma (half-life 1 day), no context", bank_runner(with(ewma, none))},
      {"zscore, no context", bank_runner(with(zscore, none))},
      {"zscore ewma + daily season", bank_runner(with(ewma, season))},
      {"zscore + daily season in visits, 15-min slots", bank_runner(with(zscore, short_slots(15)))},
      {"zscore + daily season in visits, 5-min slots", bank_runner(with(zscore, short_slots(5)))},
      {"zscore + daily season + diff",
       bank_runner(with(with(zscore, season), {{"context", {{"diff", true}}}}))},
      {"likelihood(zscore), no context", bank_runner(with(likelihood, none))},
      {"likelihood(zscore) + daily season", bank_runner(with(likelihood, season))},
      {"mahalanobis, no context", bank_runner(with(mahalanobis, none))},
      {"mahalanobis + daily season", bank_runner(with(mahalanobis, season))},
      {"zscore sum_squares + daily season", bank_runner(with(sum_squares, season))},
      {"zscore + daily season in visits, 4 visits",
       bank_runner(with(zscore, {{"context",
                                  {{"season", "day"},
                                   {"season_half_life", 8},
                                   {"season_min_visits", 4},
                                   {"season_half_life_days", 0},
                                   {"season_min_days", 0}}}}))},
      {"zscore + daily season in days (half-life 1 d, known after 2 d)",
       bank_runner(with(zscore, in_days("day", 1, 2)))},
      {"zscore + daily season in days (half-life 4 d, known after 2 d)",
       bank_runner(with(zscore, in_days("day", 4, 2)))},
      {"zscore + weekly season in days (half-life 14 d, known after 2 d)",
       bank_runner(with(zscore, in_days("week", 14, 2)))},
      {"baseline: windowed Gaussian", windowed_gaussian},
      {"baseline: k-NN conformal", knn_conformal},
      {"baseline: isolation forest on shingles", forest_shingles},
      {"baseline: random cut forest on shingles", random_cut_forest},
  };
  nlohmann::json out = {{"tune_streams", tune}, {"report_streams", report}};
  if (corpus == "metric" || corpus == "both" || corpus == "all") {
    out["metric"] = evaluate("metric", oap_bench::make_metric_stream, oap_bench::metric_kinds(),
                             candidates, tune, report);
  }
  if (corpus == "behaviour" || corpus == "both" || corpus == "all") {
    out["behaviour"] = evaluate("behaviour", oap_bench::make_behaviour_stream,
                                oap_bench::behaviour_kinds(), candidates, tune, report);
  }
  if (corpus == "flights" || corpus == "all") {
    oap_bench::FlightCorpus series;
    try {
      series = oap_bench::load_flight_corpus(series_path);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "--corpus flights: %s\n", e.what());
      return 1;
    }
    out["flights"] = evaluate(
        "flights", [&](std::uint64_t seed) { return oap_bench::make_flight_stream(series, seed); },
        oap_bench::flight_kinds(), candidates, tune, report);
  }
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(1) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t tune = 20, report = 40;
  std::string example_path = "examples/data/detectors.json", json_path, corpus = "both";
  std::string series_path = ".cache/series/flights-3m.csv";
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
    } else if (a == "--series") {
      series_path = next();
    } else if (a == "--corpus") {
      corpus = next();
      if (corpus != "metric" && corpus != "behaviour" && corpus != "flights" && corpus != "both" &&
          corpus != "all") {
        std::fprintf(stderr, "--corpus: %s is not metric, behaviour, flights, both or all\n",
                     corpus.c_str());
        return 2;
      }
    } else {
      std::fprintf(stderr,
                   "usage: stream_benchmark [--tune N] [--report N]\n"
                   "                        [--corpus metric|behaviour|flights|both|all]\n"
                   "                        [--series FILE] [--example FILE] [--json FILE]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  const bool flights = corpus == "flights" || corpus == "all";
  if (flights && (tune != 20 || tune + report > oap_bench::flight_stream_count())) {
    std::fprintf(stderr,
                 "--corpus flights: its tuning streams are seeds 1-20 (--tune 20) and "
                 "its held-out ones 21-60 (--report 40 or fewer)\n");
    return 2;
  }
  try {
    return run(tune, report, corpus, example_path, series_path, json_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stream_benchmark: %s\n", e.what());
    return 1;
  }
}
