// Personalizer benchmarks (issue 11; results in docs/benchmarks.md#personalizer).
//
// BM_Observe/<case>: the latency of Personalizer::observe on warm users when no update is
// triggered: the whole per-event path (validation, text signals when on, history append and
// flush to SQLite, DetectorBank::observe, the policy, the audit trail's commit). Per-call wall
// times are measured here (Google Benchmark reports means only): counters p50_us, p90_us,
// p99_us, max_us, and over_500us (the share of calls slower than 500 us). The mean (Time, CPU) is
// Google Benchmark's, CPU = the process's, all threads.
//
//   - d = 16 features per event, N(0, 1) (seeded by user and event index: a stable user);
//   - three detectors: zscore, mahalanobis, isolation_forest, their defaults
//     (docs/detectors.md; the bank's min_history 20 and hold-back of flagged points on);
//   - a SQLite history store and audit trail in a fresh temp folder (the Personalizer's
//     defaults: WAL, synchronous NORMAL, one commit per event in each);
//   - a policy that never starts an update on such a user: no initial profile update
//     (initial_adapt_after 0), no new context on a sustained shift, and kAdapt only after 6
//     flagged events of the last 6 (alpha stays 0.01: about 1% of the events are flagged and
//     take the kObserve path). Counters: updates (in the timed part: decisions that start or
//     roll back an update, plus updates accepted, rejected, failed or pending; must be 0, else
//     the benchmark reports an error), warmup_updates (the same before it; must be 0 with a
//     model, where an update would leave an adapter), flagged (kObserve decisions per timed
//     call);
//   - the users are warmed first (warm events each, round robin, untimed), then observed round
//     robin in the timed loop.
//
// Cases:
//   features           no model: events with 16 features, no text (text signals off);
//                      16 users x 300 warm events (past the isolation forest's 256-point window)
//   features_no_population  the same with min_history 0: no population detectors (whose
//                      learning, warm users' points in batches of 64, runs on the bank's
//                      population learner thread)
//   text_tiny          the `tiny` preset (random weights, bench_models.hpp, with a tokenizer):
//                      events with 16 features and a ~12-word English text; text signals on
//                      (surprise + a 4-d embedding: 21 features reach the detectors);
//                      8 users x 64 warm events
//   text_small         the same with the `small` preset; 8 users x 32 warm events
//
// Environment: OAP_BENCH_THREADS (model threads; default all cores), OAP_BENCH_MODELS
// (bench_models.hpp).
//
//   personalizer_bench [Google Benchmark flags]

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_models.hpp"
#include "bench_util.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/tokenizer.hpp"
#include "oap/personalizer.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using oap::bench::ScratchDir;

constexpr std::size_t kDim = 16;

struct Case {
  const char* name;
  const char* preset;  // "" = no model (no text)
  std::size_t users;
  std::size_t warm_events;       // per user, before the timed loop
  std::int64_t iterations;       // timed observe() calls
  std::size_t min_history = 20;  // DetectorBankOptions::min_history (0: no population)
};

// A ~12-word sentence for event i of a user, drawn from everyday English words (so that the
// bench tokenizer, trained on English, splits it like real text).
std::string event_text(std::mt19937_64& rng) {
  static const std::vector<std::string> kWords = {
      "the",     "soup",  "is",      "warm",    "and",     "bread",  "fresh",   "we",
      "cook",    "rice",  "with",    "onions",  "garlic",  "butter", "in",      "a",
      "pan",     "today", "market",  "shares",  "fell",    "as",     "yields",  "rose",
      "sold",    "stock", "earning", "beat",    "index",   "closed", "lower",   "bank",
      "weather", "rain",  "morning", "evening", "walk",    "park",   "friends", "coffee",
      "train",   "late",  "station", "office",  "meeting", "report", "email",   "tomorrow"};
  const std::size_t words = 10 + rng() % 5;
  std::string out;
  for (std::size_t i = 0; i < words; ++i) {
    out += (i ? " " : "") + kWords[rng() % kWords.size()];
  }
  return out;
}

// Event i of user u: features N(0, 1), one minute apart; text when with_text.
oap::Event make_event(std::size_t u, std::size_t i, bool with_text) {
  std::mt19937_64 rng(u * 1'000'003 + i);
  std::normal_distribution<float> g;
  oap::Event e;
  e.user = "user" + std::to_string(u);
  e.timestamp =
      oap::timestamp_from_micros(1'700'000'000'000'000 + static_cast<std::int64_t>(i) * 60'000'000);
  e.features.resize(kDim);
  for (float& f : e.features) f = g(rng);
  if (with_text) e.text = event_text(rng);
  return e;
}

oap::PersonalizerOptions options(const ScratchDir& dir, const Case& c) {
  oap::PersonalizerOptions o;
  o.data_dir = dir.path() / "data";
  o.detect.min_history = c.min_history;
  o.detect.detectors = nlohmann::json::array({{{"name", "z"}, {"type", "zscore"}},
                                              {{"name", "m"}, {"type", "mahalanobis"}},
                                              {{"name", "f"}, {"type", "isolation_forest"}}});
  o.policy.initial_adapt_after = 0;
  o.policy.new_context_on_sustained = false;
  o.policy.adapt_min_flagged = o.policy.adapt_window;
  return o;
}

std::uint64_t updates_of(const oap::Personalizer::Stats& s) {
  using oap::Action;
  return s.by_action[static_cast<int>(Action::kAdapt)] +
         s.by_action[static_cast<int>(Action::kNewContext)] +
         s.by_action[static_cast<int>(Action::kRollback)] + s.updates_accepted +
         s.updates_rejected + s.updates_failed + s.updates_pending;
}

void BM_Observe(benchmark::State& state, Case c) {
  const bool with_text = *c.preset != '\0';
  std::shared_ptr<const oap::CausalLM> model;
  std::shared_ptr<const oap::Tokenizer> tokenizer;
  if (with_text) {
    const auto dir = oap::bench::bench_model_dir(c.preset, /*with_tokenizer=*/true);
    oap::CausalLMOptions mo;
    mo.num_threads = oap::bench::bench_threads();
    model = oap::CausalLM::load(dir, mo);
    tokenizer = oap::Tokenizer::load(dir);
  }
  ScratchDir dir("personalizer_bench");
  oap::Personalizer p(options(dir, c), model, tokenizer);

  for (std::size_t i = 0; i < c.warm_events; ++i) {
    for (std::size_t u = 0; u < c.users; ++u) p.observe(make_event(u, i, with_text));
  }
  // The timed events, made beforehand: only observe() is measured.
  std::vector<oap::Event> events;
  for (std::int64_t k = 0; k < c.iterations; ++k) {
    const auto n = static_cast<std::size_t>(k);
    events.push_back(make_event(n % c.users, c.warm_events + n / c.users, with_text));
  }
  const auto before = p.stats();
  std::vector<double> us;
  us.reserve(events.size());
  std::size_t next = 0, flagged = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    const auto o = p.observe(events[next++ % events.size()]);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    flagged += o.decision.action == oap::Action::kObserve;
  }
  const auto after = p.stats();
  oap::bench::set_latency_counters(state, us);
  state.counters["over_500us"] =
      static_cast<double>(std::count_if(us.begin(), us.end(), [](double t) { return t > 500; })) /
      static_cast<double>(us.size());
  const auto timed_updates = updates_of(after) - updates_of(before);
  state.counters["updates"] = static_cast<double>(timed_updates);
  state.counters["warmup_updates"] = static_cast<double>(updates_of(before));
  state.counters["flagged"] = static_cast<double>(flagged) / static_cast<double>(us.size());
  state.counters["features"] = static_cast<double>(kDim) + (with_text ? 5.0 : 0.0);
  state.counters["threads"] = with_text ? oap::bench::bench_threads() : 0;
  // No update in the timed part, and none before it where it would leave an adapter (with a
  // model; without one, decided updates are only recorded).
  if (timed_updates != 0 || (with_text && updates_of(before) != 0) ||
      after.events - before.events != us.size()) {
    state.SkipWithError("an update was decided: not the no-update path");
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Case cases[] = {{"features", "", 16, 300, 10000},
                        {"features_no_population", "", 16, 300, 10000, 0},
                        {"text_tiny", "tiny", 8, 64, 1000},
                        {"text_small", "small", 8, 32, 300}};
  for (const auto& c : cases) {
    benchmark::RegisterBenchmark((std::string("BM_Observe/") + c.name).c_str(), BM_Observe, c)
        ->Iterations(c.iterations)
        ->Unit(benchmark::kMicrosecond)
        ->MeasureProcessCPUTime()
        ->UseRealTime();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
