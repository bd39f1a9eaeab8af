// policy_bench: the cost of the deviation policy's audit trail per event.
//
// Measures (wall-clock time: SQLite waits on I/O, which CPU time would hide)
//   - AuditTrail/record: one decision per call with its user state and one progress counter,
//     each call its own transaction, over Arg users interleaved (event i belongs to user
//     i mod users), as the Personalizer records them. The record is realistic in size: scores
//     of three detectors with 16 contributions each, a policy state of a few hundred bytes.
//     items_per_second = records/s; p50/p99/max per call in microseconds as counters, and
//     over20ms_us: the time spent in calls over 20 ms (those that ran a checkpoint) per call.
//   - AuditTrail/decisions_last100: the newest 100 decisions of a random user of a trail holding
//     1000 users x 200 decisions (items_per_second = decisions read/s).
//   - AuditTrail/forget: forget() of a user with 200 decisions among 1000 users (the deletion,
//     then the checkpoint that truncates the log; manual time, only the forget() call).
// The record benchmarks write a fresh trail each; the other two share one, built once. All
// live under the system temp folder and are deleted at exit.
//
//   policy_bench [benchmark flags...]

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "oap/policy/audit_trail.hpp"
#include "oap/policy/policy_state.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kDim = 16;

// A folder removed with its contents at scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("oap_policy_bench_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path file() const { return path_ / "audit.db"; }

 private:
  fs::path path_;
};

std::string user_name(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "user%06zu", i);
  return buf;
}

// Scores as Observation serializes them: three detectors, kDim contributions each.
nlohmann::json make_scores(std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  nlohmann::json scores = nlohmann::json::object();
  for (const char* name : {"zscore", "mahalanobis", "iforest"}) {
    std::vector<double> contributions(kDim);
    for (double& c : contributions) c = u(rng);
    const double p = u(rng);
    scores[name] = {{"score", u(rng) * 5},
                    {"p_value", p},
                    {"flagged", p < 0.01},
                    {"contributions", contributions}};
  }
  return scores;
}

oap::AuditRecord make_record(const std::string& user, std::uint64_t event, std::mt19937& rng) {
  oap::AuditRecord r;
  r.user = user;
  r.event = event;
  r.time = oap::timestamp_from_micros(1'700'000'000'000'000 + static_cast<std::int64_t>(event));
  r.decision.action = oap::Action::kObserve;
  r.decision.reason = "flagged (p 0.0042 < alpha 0.01), 1 of the last 6 flagged (need 2)";
  r.p_value = 0.0042;
  r.detector = "zscore";
  r.shift_state = oap::ShiftState::kNone;
  r.nll = 2.75;
  r.learned = false;
  r.scores = make_scores(rng);
  return r;
}

nlohmann::json make_state(std::uint64_t events) {
  oap::PolicyState s;
  s.events = events;
  s.last_update = static_cast<std::int64_t>(events / 2);
  s.recent_flags = {0, 1, 0, 0, 1, 0};
  s.update_times = {1'700'000'000'000'000, 1'700'000'360'000'000, 1'700'000'720'000'000};
  return {{"policy", s}, {"adapter_version", "9b0449301e7dea8d77f51b8e0e3b623e"}};
}

std::size_t percentile_index(std::size_t n, double p) {
  return std::min(n - 1, static_cast<std::size_t>(p * static_cast<double>(n)));
}

void set_latency_counters(benchmark::State& state, std::vector<std::int64_t>& ns) {
  if (ns.empty()) return;
  std::sort(ns.begin(), ns.end());
  const auto us = [&](double p) {
    return static_cast<double>(ns[percentile_index(ns.size(), p)]) / 1e3;
  };
  state.counters["p50_us"] = us(0.50);
  state.counters["p99_us"] = us(0.99);
  state.counters["max_us"] = static_cast<double>(ns.back()) / 1e3;
  // Time in calls over 20 ms, per call: the commits that ran a checkpoint (it syncs the log and
  // copies it into the database), seen from the recording thread.
  double slow_ns = 0;
  for (auto it = std::upper_bound(ns.begin(), ns.end(), std::int64_t{20'000'000}); it != ns.end();
       ++it) {
    slow_ns += static_cast<double>(*it);
  }
  state.counters["over20ms_us"] = slow_ns / 1e3 / static_cast<double>(ns.size());
}

void BM_Record(benchmark::State& state) {
  const auto users = static_cast<std::size_t>(state.range(0));
  ScratchDir dir;
  auto trail = oap::open_audit_trail(dir.file());
  std::mt19937 rng(42);
  std::vector<std::string> names;
  for (std::size_t u = 0; u < users; ++u) names.push_back(user_name(u));
  // Prepared outside the timed loop: only record() is measured.
  std::vector<oap::AuditRecord> records;
  for (int k = 0; k < 64; ++k) records.push_back(make_record("", 0, rng));
  std::vector<nlohmann::json> states;
  for (int k = 0; k < 64; ++k) states.push_back(make_state(static_cast<std::uint64_t>(k)));
  std::vector<std::uint64_t> events(users, 0);
  std::vector<std::int64_t> ns;
  std::int64_t i = 0;
  for (auto _ : state) {
    const std::size_t u = static_cast<std::size_t>(i) % users;
    oap::AuditRecord& r = records[static_cast<std::size_t>(i) % records.size()];
    r.user = names[u];
    r.event = events[u]++;
    const auto t0 = Clock::now();
    trail->record(r, states[static_cast<std::size_t>(i) % states.size()], {{"input", i + 1}});
    ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  set_latency_counters(state, ns);
}

constexpr std::size_t kFillUsers = 1000, kFillPerUser = 200;

// The trail the read and forget benchmarks share: kFillUsers x kFillPerUser decisions,
// recorded interleaved, built on first use (its build time is printed) and kept until exit.
struct Filled {
  ScratchDir dir;
  std::unique_ptr<oap::AuditTrail> trail;
  std::mt19937 rng{7};

  Filled() {
    trail = oap::open_audit_trail(dir.file());
    const auto t0 = Clock::now();
    for (std::size_t e = 0; e < kFillPerUser; ++e) {
      for (std::size_t u = 0; u < kFillUsers; ++u) record_one(user_name(u), e);
    }
    std::fprintf(stderr, "built a trail of %zu users x %zu decisions in %.1f s\n", kFillUsers,
                 kFillPerUser, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  void record_one(const std::string& user, std::uint64_t event) {
    trail->record(make_record(user, event, rng), make_state(event), {{"input", 1}});
  }
};

Filled& filled() {
  static Filled f;
  return f;
}

void BM_DecisionsLast100(benchmark::State& state) {
  Filled& f = filled();
  std::uniform_int_distribution<std::size_t> pick(0, kFillUsers - 1);
  for (auto _ : state) {
    auto d = f.trail->decisions(user_name(pick(f.rng)), kFillPerUser - 100, 100);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations() * 100);
}

void BM_Forget(benchmark::State& state) {
  Filled& f = filled();
  std::size_t next = 0;
  for (auto _ : state) {
    const std::string user = user_name(next++ % kFillUsers);
    if (f.trail->events(user) == 0) {
      // Forgotten by an earlier round: record it again (not timed) so there is one to forget.
      state.PauseTiming();
      for (std::uint64_t e = 0; e < kFillPerUser; ++e) f.record_one(user, e);
      state.ResumeTiming();
    }
    const auto t0 = Clock::now();
    benchmark::DoNotOptimize(f.trail->forget(user));
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - t0).count());
  }
}

}  // namespace

BENCHMARK(BM_Record)->Name("AuditTrail/record")->Arg(10)->Arg(1000)->Arg(100000)->UseRealTime();
BENCHMARK(BM_DecisionsLast100)->Name("AuditTrail/decisions_last100")->UseRealTime();
BENCHMARK(BM_Forget)->Name("AuditTrail/forget")->UseManualTime()->Iterations(50);

BENCHMARK_MAIN();
