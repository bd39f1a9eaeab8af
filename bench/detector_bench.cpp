// detector_bench: throughput of the streaming detectors (Google Benchmark).
//
// Measures, per detector and dimension d in {4, 16, 64}:
//   - UpdateScore: the streaming step `score_and_update(x, s)` (= score_into, then update) on a
//     pre-generated stream of standard normal points, reusing one Score (events/s);
//   - ScoreOnly: score_into(x, s) of a trained detector (const);
//   - ScoreBatch: score_batch() over 4096 points at once (items_per_second = points/s).
// Detectors: zscore (Welford, max combine), mahalanobis (Ledoit-Wolf, default refit interval),
// isolation_forest (100 trees, window 256, sample 256), ensemble (the three, Bonferroni).
// DetectorBank (BankWarm_*): observe(user, x) for users past min_history (default 20), d = 16,
// the bank's whole step (user lookup, scoring, learning, shift monitor, Observation). Configs:
// ZScore = one z-score detector; Three = z-score, Mahalanobis, isolation forest (as above).
// Threads(2): two threads, each with its own warm users, on one shared bank.
// Single thread unless noted. Build in Release:
//   cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build-rel
//   detector_bench build-rel/bench/detector_bench [--benchmark_filter=Mahalanobis]

#include <benchmark/benchmark.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "oap/detect/detector.hpp"
#include "oap/detect/detector_bank.hpp"
#include "oap/detect/detector_factory.hpp"

namespace {

constexpr std::size_t kStreamRows = 1 << 14;  // cycled through; fits in L2 at d = 16
constexpr std::size_t kBatchRows = 4096;
constexpr std::size_t kTrainRows = 2048;

std::vector<double> normal_rows(std::size_t rows, std::size_t d, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::vector<double> out(rows * d);
  for (auto& v : out) v = g(rng);
  return out;
}

nlohmann::json spec_of(const std::string& type) {
  if (type == "ensemble") {
    return {{"type", "ensemble"},
            {"members",
             {{{"type", "zscore"}}, {{"type", "mahalanobis"}}, {{"type", "isolation_forest"}}}}};
  }
  return {{"type", type}};
}

std::unique_ptr<oap::Detector> trained(const std::string& type, std::size_t d) {
  auto det = oap::make_detector(spec_of(type), d);
  auto rows = normal_rows(kTrainRows, d, 7);
  for (std::size_t i = 0; i < kTrainRows; ++i) {
    std::span<const double> x(rows.data() + i * d, d);
    det->score(x);
    det->update(x);
  }
  return det;
}

// One score per event, and with learn also one update (the streaming loop).
void stream(benchmark::State& state, const std::string& type, bool learn) {
  const auto d = static_cast<std::size_t>(state.range(0));
  auto det = trained(type, d);
  auto rows = normal_rows(kStreamRows, d, 11);
  std::size_t i = 0;
  oap::Score score;  // reused, as a streaming caller would (score_into allocates nothing then)
  for (auto _ : state) {
    std::span<const double> x(rows.data() + i * d, d);
    if (learn) {
      det->score_and_update(x, score);
    } else {
      det->score_into(x, score);
    }
    benchmark::DoNotOptimize(score);
    if (++i == kStreamRows) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void update_score(benchmark::State& state, const std::string& type) { stream(state, type, true); }
void score_only(benchmark::State& state, const std::string& type) { stream(state, type, false); }

void score_batch(benchmark::State& state, const std::string& type) {
  const auto d = static_cast<std::size_t>(state.range(0));
  auto det = trained(type, d);
  auto rows = normal_rows(kBatchRows, d, 11);
  for (auto _ : state) benchmark::DoNotOptimize(det->score_batch(rows));
  state.SetItemsProcessed(state.iterations() * kBatchRows);
}

#define OAP_DETECTOR_BENCH(Name, type)                                         \
  void BM_##Name##_UpdateScore(benchmark::State& s) { update_score(s, type); } \
  void BM_##Name##_ScoreOnly(benchmark::State& s) { score_only(s, type); }     \
  void BM_##Name##_ScoreBatch(benchmark::State& s) { score_batch(s, type); }   \
  BENCHMARK(BM_##Name##_UpdateScore)->Arg(4)->Arg(16)->Arg(64);                \
  BENCHMARK(BM_##Name##_ScoreOnly)->Arg(4)->Arg(16)->Arg(64);                  \
  BENCHMARK(BM_##Name##_ScoreBatch)->Arg(4)->Arg(16)->Arg(64)->Unit(benchmark::kMillisecond);

OAP_DETECTOR_BENCH(ZScore, "zscore")
OAP_DETECTOR_BENCH(Mahalanobis, "mahalanobis")
OAP_DETECTOR_BENCH(IsolationForest, "isolation_forest")
OAP_DETECTOR_BENCH(Ensemble, "ensemble")

// A bank with kBankUsers warm users (kTrainRows events each, round robin), shared by the
// benchmark's threads; thread t observes users t, t + threads, ... in turn.
constexpr int kBankUsers = 8;
constexpr std::size_t kBankDim = 16;

// Events 5 minutes apart, so that the default stream context (the daily season) visits its
// hourly slots as a metric stream would.
oap::Timestamp event_time(std::size_t i) {
  return oap::timestamp_from_micros(static_cast<std::int64_t>(i) * 300'000'000);
}

std::unique_ptr<oap::DetectorBank> warm_bank(const nlohmann::json& detectors, bool context) {
  oap::DetectorBankOptions options;
  options.detectors = detectors;
  if (!context) options.context.season = oap::StreamContextOptions::Season::kNone;
  auto bank = std::make_unique<oap::DetectorBank>(options);
  auto rows = normal_rows(kTrainRows, kBankDim, 7);
  for (std::size_t i = 0; i < kTrainRows; ++i) {
    for (int u = 0; u < kBankUsers; ++u) {
      bank->observe("user" + std::to_string(u), {rows.data() + i * kBankDim, kBankDim},
                    event_time(i));
    }
  }
  return bank;
}

void bank_warm(benchmark::State& state, const nlohmann::json& detectors, bool context = true) {
  static std::unique_ptr<oap::DetectorBank> bank;
  if (state.thread_index() == 0) bank = warm_bank(detectors, context);
  const int threads = state.threads();
  const int t = state.thread_index();
  std::vector<std::string> users;
  for (int u = t; u < kBankUsers; u += threads) users.push_back("user" + std::to_string(u));
  auto rows = normal_rows(kStreamRows, kBankDim, 11 + t);
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(bank->observe(users[i % users.size()],
                                           {rows.data() + i * kBankDim, kBankDim},
                                           event_time(kTrainRows + i)));
    if (++i == kStreamRows) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) bank.reset();
}

void BM_BankWarm_ZScore(benchmark::State& s) { bank_warm(s, {{"z", spec_of("zscore")}}); }
// The same without the stream context (the default before the daily season).
void BM_BankWarm_ZScoreNoContext(benchmark::State& s) {
  bank_warm(s, {{"z", spec_of("zscore")}}, /*context=*/false);
}
void BM_BankWarm_Three(benchmark::State& s) {
  bank_warm(s, {{"z", spec_of("zscore")},
                {"m", spec_of("mahalanobis")},
                {"f", spec_of("isolation_forest")}});
}
BENCHMARK(BM_BankWarm_ZScore)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_BankWarm_ZScoreNoContext)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_BankWarm_Three)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
