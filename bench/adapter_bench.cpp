// Per-user adapter benchmarks (issue 10; results in docs/benchmarks.md#adapters).
//
//   adapter_bench [Google Benchmark flags]   the benchmarks below
//   adapter_bench --write-models             writes the models (bench_models.hpp) and exits
//   adapter_bench --many [--preset=small] [--count=10000] [--budget-mib=2048]
//                 [--lookups=20000] [--register-threads=8] [--dir=PATH] [--keep]
//       Registers `count` rank-8 q/v adapters (different weights per user) in a fresh adapter
//       store, by AdapterStore::add writing each user's PEFT folder (save_peft_adapter) from
//       register-threads threads (one user each at a time), then
//       serves random users through an AdapterManager with a resident budget of budget-mib MiB:
//       one warm-up pass over every user in random order, then `lookups` get() calls on users
//       drawn uniformly at random. Prints get() latency percentiles of hits and misses, the
//       largest resident bytes seen, process RSS, and a JSON line with all of it. The store is
//       a new folder under --dir (default: the system temp folder), deleted at the end unless
//       --keep.
//
// Benchmarks (bench/adapter_bench_compare.py runs them interleaved with the same work in Python
// PyTorch and prints the tables):
//   BM_RapidUpdate/<preset>_<f32|bf16>: one RapidTrainer::train on a fresh rank-8 q/v adapter
//     (LoraWeights::create, seed 0, as AdapterManager makes a new user's): 8 trigger samples
//     (weights 1, 1.125, ..., 1.875) + 8 replay + 8 held-out, 64 tokens each (update_tokens()),
//     10 steps (patience 0), batch_size 16, replay_ratio 1: losses before (no grad), 10 AdamW
//     steps on 16-sample batches (the 8 trigger + the 8 replay samples), losses after, gate.
//     One iteration per process, after one warm-up forward+backward of a step's batch. Counters:
//     the report's losses, steps and accepted, so the Python side can be checked against it.
//   BM_AdapterReload/small: AdapterManager::get() of a user whose adapter was evicted (a budget
//     of 1 byte keeps only the adapter being returned; two users alternate, so every call is a
//     miss): store verification (every byte hashed), safetensors read, tensors made.
//   BM_AdapterStoreOpen/small, BM_LoadPeftAdapter/small: the two halves of that reload.
//   BM_MixedPrefill/<preset>_<dtype>/a<k>: CausalLM::forward of 64 prompts x 64 tokens (last
//     position's logits), row b with adapter b mod k of k distinct rank-8 q/v adapters with
//     non-zero B (k = 0: no adapter at all, the baseline).
//   BM_MixedDecode/<preset>_<dtype>/a<k>: one decode step of the same 64 rows at context 64.
//   BM_LoraRows/<dtype>/T<t>/a<k>[/kept]: LoraLinear::forward(x, rows) alone on a 512 -> 512
//     projection, x [64, t, 512], k distinct rank-8 pairs (k = 0: the base projection); /kept
//     with a LoraRowStack kept between calls (as a KVCache keeps it over decode steps).
//
// Environment: OAP_BENCH_THREADS, OAP_BENCH_DECODE_THREADS, OAP_BENCH_MODELS (bench_models.hpp).
// CPU time is the process's (all threads, spin-waiting included).

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "bench_models.hpp"
#include "bench_util.hpp"
#include "oap/adapt/adapter_manager.hpp"
#include "oap/adapt/adapter_store.hpp"
#include "oap/adapt/rapid_trainer.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/lora_weights.hpp"
#include "oap/llm/peft_adapter.hpp"

namespace {

namespace fs = std::filesystem;
using oap::LoraTarget;
using oap::bench::bench_model;
using oap::bench::bench_threads;
using oap::bench::percentile;
using oap::bench::ScratchDir;

constexpr std::int64_t kRank = 8;
constexpr double kAlpha = 16.0;
const std::vector<LoraTarget> kTargets = {LoraTarget::kQ, LoraTarget::kV};

// --- Rapid update ---------------------------------------------------------------------------

constexpr std::size_t kSamples = 8;      // trigger, replay and held-out samples each
constexpr std::size_t kSampleLen = 64;   // tokens per sample
constexpr std::int64_t kMixBatch = 64;   // rows of the mixed-adapter batches
constexpr std::int64_t kMixTokens = 64;  // prompt length / decode context of those

// Token ids of sample i of a set (0 trigger, 1 replay, 2 held-out): a 64-bit LCG, so that
// adapter_bench_compare.py makes the same samples.
std::vector<std::int32_t> update_tokens(int set, std::size_t i, std::int64_t vocab) {
  std::uint64_t s = 0x9E3779B97F4A7C15ull * (static_cast<std::uint64_t>(set) * 1000 + i + 1);
  std::vector<std::int32_t> out;
  for (std::size_t k = 0; k < kSampleLen; ++k) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    out.push_back(static_cast<std::int32_t>((s >> 33) % static_cast<std::uint64_t>(vocab)));
  }
  return out;
}

oap::TrainingData update_data(std::int64_t vocab) {
  oap::TrainingData d;
  for (std::size_t i = 0; i < kSamples; ++i) {
    d.trigger.push_back({update_tokens(0, i, vocab), 1.0 + static_cast<double>(i) / 8.0});
    d.replay.push_back({update_tokens(1, i, vocab), 1.0});
    d.heldout.push_back({update_tokens(2, i, vocab), 1.0});
  }
  return d;
}

oap::RapidTrainerOptions update_options() {
  oap::RapidTrainerOptions o;  // lr 2e-3, betas 0.9/0.999, eps 1e-8, no decay, clip 1
  o.steps = 10;
  o.patience = 0;  // all 10 steps run
  o.batch_size = 16;
  o.replay_ratio = 1.0;
  return o;
}

void BM_RapidUpdate(benchmark::State& state, std::string preset, std::string dtype) {
  auto m = bench_model(preset, dtype);
  const auto& c = m->config();
  const auto data = update_data(c.vocab_size);
  const oap::RapidTrainer trainer(m, update_options());
  const auto start = oap::LoraWeights::create(c, kRank, kAlpha, kTargets, false, /*seed=*/0);
  {
    // Warm-up (the Python side does the same): one forward + backward of a step's 16 samples.
    auto warm = start.clone();
    std::vector<std::int64_t> flat;
    for (const auto* set : {&data.trigger, &data.replay}) {
      for (const auto& s : *set) flat.insert(flat.end(), s.tokens.begin(), s.tokens.end());
    }
    auto ids = torch::tensor(flat, torch::kLong).view({16, static_cast<std::int64_t>(kSampleLen)});
    const oap::LoraWeights* one[] = {&warm};
    auto logits = m->forward(ids, {}, nullptr, one);
    torch::nn::functional::cross_entropy(
        logits.narrow(1, 0, kSampleLen - 1).reshape({-1, c.vocab_size}),
        ids.narrow(1, 1, kSampleLen - 1).reshape({-1}))
        .backward();
  }
  oap::UpdateReport r;
  for (auto _ : state) r = trainer.train(start, data).report;
  state.counters["trigger_before"] = r.trigger_loss_before;
  state.counters["trigger_after"] = r.trigger_loss_after;
  state.counters["heldout_before"] = r.heldout_loss_before;
  state.counters["heldout_after"] = r.heldout_loss_after;
  state.counters["steps"] = r.steps;
  state.counters["accepted"] = r.accepted ? 1 : 0;
  state.counters["threads"] = bench_threads();
}

// --- Adapter reload -------------------------------------------------------------------------

// A trained-looking adapter for user number `seed`: PEFT's A, B ~ N(0, 0.02) (non-zero).
oap::LoraWeights user_adapter(const oap::ModelConfig& c, std::uint64_t seed) {
  auto w = oap::LoraWeights::create(c, kRank, kAlpha, kTargets, false, seed);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 0x5eed);
  torch::NoGradGuard no_grad;
  for (std::int64_t layer = 0; layer < w.num_layers(); ++layer) {
    for (auto t : kTargets) w.get(layer, t)->b.normal_(0.0, 0.02, gen);
  }
  for (auto& p : w.parameters()) p.requires_grad_(false);
  return w;
}

oap::PeftAdapterConfig peft_config() {
  oap::PeftAdapterConfig p;
  p.rank = kRank;
  p.alpha = kAlpha;
  p.targets = kTargets;
  return p;
}

// Stores the adapter as the user's new current version, as AdapterManager::update does.
std::string add_version(oap::AdapterStore& store, const oap::UserId& user,
                        const oap::LoraWeights& w) {
  const auto config = peft_config();
  return store
      .add(user, [&](const fs::path& dir) { oap::save_peft_adapter(dir, w, config); }, "", {})
      .id;
}

void BM_AdapterReload(benchmark::State& state, std::string preset) {
  auto m = bench_model(preset, "float32");
  ScratchDir dir("adapter_bench");
  std::shared_ptr<oap::AdapterStore> store = oap::open_adapter_store(dir.path() / "store");
  oap::AdapterManagerOptions o;
  o.memory_budget_bytes = 1;  // only the adapter being returned stays resident
  oap::AdapterManager manager(m, store, o);
  const std::vector<oap::UserId> users = {"user-a", "user-b"};
  for (std::size_t i = 0; i < users.size(); ++i) {
    add_version(*store, users[i], user_adapter(m->config(), i + 1));
  }
  for (const auto& u : users) manager.get(u);  // warm-up
  const auto loads_before = manager.stats().loads;
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    auto a = manager.get(users[i++ % users.size()]);
    bytes = a->bytes;
    benchmark::DoNotOptimize(a.get());
  }
  const auto s = manager.stats();
  if (s.loads - loads_before != static_cast<std::uint64_t>(state.iterations())) {
    state.SkipWithError("a get() was served from memory: not an eviction benchmark");
  }
  state.counters["adapter_bytes"] = static_cast<double>(bytes);
  state.counters["resident_bytes"] = static_cast<double>(s.resident_bytes);
}

void BM_AdapterStoreOpen(benchmark::State& state, std::string preset) {
  auto m = bench_model(preset, "float32");
  ScratchDir dir("adapter_bench");
  auto store = oap::open_adapter_store(dir.path() / "store");
  const auto id = add_version(*store, "user-a", user_adapter(m->config(), 1));
  for (auto _ : state) benchmark::DoNotOptimize(store->open("user-a", id));
}

void BM_LoadPeftAdapter(benchmark::State& state, std::string preset) {
  auto m = bench_model(preset, "float32");
  ScratchDir dir("adapter_bench");
  oap::save_peft_adapter(dir.path(), user_adapter(m->config(), 1), peft_config());
  for (auto _ : state) {
    auto a = oap::load_peft_adapter(dir.path(), m->config());
    benchmark::DoNotOptimize(a.weights.num_layers());
  }
}

// --- Mixed-adapter batches ------------------------------------------------------------------

// k distinct adapters for a model, cached per (preset, k).
const std::vector<oap::LoraWeights>& mixed_adapters(const std::string& preset,
                                                    const oap::ModelConfig& c, int k) {
  static std::map<std::string, std::vector<oap::LoraWeights>> cache;
  auto& v = cache[preset + "/" + std::to_string(k)];
  if (v.empty()) {
    for (int i = 0; i < k; ++i) v.push_back(user_adapter(c, static_cast<std::uint64_t>(i) + 1));
  }
  return v;
}

// Row b's adapter: b mod k of k distinct ones; empty for k = 0 (no adapter).
std::vector<const oap::LoraWeights*> mixed_rows(const std::vector<oap::LoraWeights>& adapters) {
  std::vector<const oap::LoraWeights*> rows;
  if (adapters.empty()) return rows;
  for (std::int64_t b = 0; b < kMixBatch; ++b) {
    rows.push_back(&adapters[static_cast<std::size_t>(b) % adapters.size()]);
  }
  return rows;
}

void BM_MixedPrefill(benchmark::State& state, std::string preset, std::string dtype, int k) {
  auto m = bench_model(preset, dtype);
  const auto rows = mixed_rows(mixed_adapters(preset, m->config(), k));
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto ids = torch::randint(0, m->config().vocab_size, {kMixBatch, kMixTokens}, gen, torch::kLong);
  {
    auto cache = m->new_cache();
    m->forward(ids, {}, &cache, rows, true);  // warm-up
  }
  for (auto _ : state) {
    auto cache = m->new_cache();
    auto logits = m->forward(ids, {}, &cache, rows, /*last_only=*/true);
    benchmark::DoNotOptimize(logits.data_ptr());
  }
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(kMixBatch * kMixTokens), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["distinct_adapters"] = k;
  state.counters["threads"] = bench_threads();
}

void BM_MixedDecode(benchmark::State& state, std::string preset, std::string dtype, int k) {
  auto m = bench_model(preset, dtype);
  const auto rows = mixed_rows(mixed_adapters(preset, m->config(), k));
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto ids = torch::randint(0, m->config().vocab_size, {kMixBatch, kMixTokens}, gen, torch::kLong);
  auto next = torch::randint(0, m->config().vocab_size, {kMixBatch, 1}, gen, torch::kLong);
  auto cache = m->new_cache();
  m->forward(ids, {}, &cache, rows, true);
  cache.truncate(kMixTokens);
  m->forward(next, {}, &cache, rows, true);  // warm-up
  for (auto _ : state) {
    cache.truncate(kMixTokens);  // every step at context 64
    auto logits = m->forward(next, {}, &cache, rows, /*last_only=*/true);
    benchmark::DoNotOptimize(logits.data_ptr());
  }
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(kMixBatch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["distinct_adapters"] = k;
  state.counters["threads"] = bench_threads();
}

// One projection's per-row path alone (LoraLinear::forward(x, rows)): the `small` preset's
// q_proj shape (512 -> 512), x [64, T, 512], row b with pair b mod k of k distinct rank-8 pairs
// (k = 0: the base projection only).
void BM_LoraRows(benchmark::State& state, std::string dtype, std::int64_t t, int k, bool kept) {
  // A model loaded first sets the threads and tunes glibc malloc, as in a serving process.
  bench_model("tiny", "float32");
  const auto dt = dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const std::int64_t in = 512, out = 512;
  oap::LoraLinear lin(torch::randn({out, in}, gen).mul_(0.02).to(dt), at::Tensor());
  std::vector<oap::LoraPair> pairs;
  for (int i = 0; i < k; ++i) {
    pairs.push_back({torch::randn({kRank, in}, gen).mul_(0.05),
                     torch::randn({out, kRank}, gen).mul_(0.02), kAlpha / kRank});
  }
  std::vector<const oap::LoraPair*> rows;
  for (std::int64_t b = 0; b < kMixBatch && k > 0; ++b) {
    rows.push_back(&pairs[static_cast<std::size_t>(b) % pairs.size()]);
  }
  auto x = torch::randn({kMixBatch, t, in}, gen).to(dt);
  torch::NoGradGuard no_grad;
  oap::LoraRowStack keep;
  for (auto _ : state) {
    auto y = k > 0 ? lin.forward(x, rows, kept ? &keep : nullptr) : lin.forward(x);
    benchmark::DoNotOptimize(y.data_ptr());
  }
}

// --- 10,000 adapters (--many) ---------------------------------------------------------------

// VmRSS and VmHWM of this process, in bytes.
std::pair<std::size_t, std::size_t> process_rss() {
  std::ifstream in("/proc/self/status");
  std::string line;
  std::size_t rss = 0, hwm = 0;
  while (std::getline(in, line)) {
    auto kib = [&](std::string_view key) -> std::size_t {
      return std::strtoull(line.c_str() + key.size(), nullptr, 10) * 1024;
    };
    if (line.starts_with("VmRSS:")) rss = kib("VmRSS:");
    if (line.starts_with("VmHWM:")) hwm = kib("VmHWM:");
  }
  return {rss, hwm};
}

int many_adapters(const std::map<std::string, std::string>& args) {
  auto arg = [&](const std::string& k, const std::string& d) {
    auto it = args.find(k);
    return it == args.end() ? d : it->second;
  };
  const std::string preset = arg("preset", "small");
  const std::size_t count = std::stoull(arg("count", "10000"));
  const std::size_t budget = std::stoull(arg("budget-mib", "2048")) << 20;
  const std::size_t lookups = std::stoull(arg("lookups", "20000"));
  const std::size_t register_threads = std::stoull(arg("register-threads", "8"));
  using clock = std::chrono::steady_clock;
  auto ms_since = [](clock::time_point t) {
    return std::chrono::duration<double, std::milli>(clock::now() - t).count();
  };

  auto m = bench_model(preset, "float32");
  const auto rss_model = process_rss().first;
  ScratchDir dir("adapter_bench",
                 args.count("dir") ? fs::path(arg("dir", "")) : fs::temp_directory_path());
  if (args.count("keep")) dir.keep();
  std::shared_ptr<oap::AdapterStore> store = oap::open_adapter_store(dir.path() / "store");
  std::vector<oap::UserId> users;
  for (std::size_t i = 0; i < count; ++i) users.push_back("user-" + std::to_string(i));

  // Registration: each user's own adapter (different weights) written through the store by
  // register_threads threads (the store takes different users in parallel; each add() waits
  // for its fsyncs).
  const auto t_reg = clock::now();
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  for (std::size_t n = 0; n < register_threads; ++n) {
    pool.emplace_back([&] {
      torch::NoGradGuard no_grad;
      for (std::size_t i; (i = next++) < count;) {
        add_version(*store, users[i], user_adapter(m->config(), i + 1));
        if ((i + 1) % 1000 == 0) std::fprintf(stderr, "registered ~%zu adapters\n", i + 1);
      }
    });
  }
  for (auto& t : pool) t.join();
  const double reg_ms = ms_since(t_reg);
  std::size_t disk_bytes = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir.path() / "store")) {
    if (e.is_regular_file()) disk_bytes += e.file_size();
  }

  const auto rss_registered = process_rss().first;  // the baseline of the adapters' memory

  oap::AdapterManagerOptions o;
  o.memory_budget_bytes = budget;
  oap::AdapterManager manager(m, store, o);
  std::mt19937_64 rng(1);
  std::size_t max_resident = 0, adapter_bytes = 0;
  bool over_budget = false;
  auto lookup = [&](const oap::UserId& u, std::vector<double>& hits, std::vector<double>& misses) {
    const auto hits_before = manager.stats().hits;
    const auto t = clock::now();
    auto a = manager.get(u);
    const double ms = ms_since(t);
    const auto s = manager.stats();
    (s.hits > hits_before ? hits : misses).push_back(ms);
    adapter_bytes = a->bytes;
    max_resident = std::max(max_resident, s.resident_bytes);
    over_budget = over_budget || s.resident_bytes > budget;
  };

  // Warm-up: every user once, in random order (fills the budget, then evicts).
  std::vector<double> warm_hits, warm_misses;
  auto order = users;
  std::shuffle(order.begin(), order.end(), rng);
  const auto t_warm = clock::now();
  for (const auto& u : order) lookup(u, warm_hits, warm_misses);
  const double warm_ms = ms_since(t_warm);
  const auto s_warm = manager.stats();
  const auto rss_full = process_rss().first;

  // Measured: uniformly random users.
  std::vector<double> hits, misses;
  std::uniform_int_distribution<std::size_t> pick(0, count - 1);
  for (std::size_t i = 0; i < lookups; ++i) lookup(users[pick(rng)], hits, misses);
  const auto s = manager.stats();
  const auto [rss, hwm] = process_rss();
  std::vector<double> all = hits;
  all.insert(all.end(), misses.begin(), misses.end());

  nlohmann::json j = {
      {"preset", preset},
      {"adapters", count},
      {"budget_bytes", budget},
      {"adapter_bytes", adapter_bytes},
      {"store_bytes_on_disk", disk_bytes},
      {"register_s", reg_ms / 1e3},
      {"register_ms_per_adapter", reg_ms / static_cast<double>(count)},
      {"register_threads", register_threads},
      {"warmup_pass_s", warm_ms / 1e3},
      {"warmup_misses", warm_misses.size()},
      {"warmup_miss_ms_p50", percentile(warm_misses, 0.5)},
      {"resident_adapters", s.resident_adapters},
      {"resident_bytes", s.resident_bytes},
      {"max_resident_bytes", max_resident},
      {"resident_bytes_exceeded_budget", over_budget},
      {"evictions", s.evictions},
      {"lookups", lookups},
      {"hits", hits.size()},
      {"misses", misses.size()},
      {"get_ms_p50", percentile(all, 0.5)},
      {"get_ms_p99", percentile(all, 0.99)},
      {"hit_ms_p50", percentile(hits, 0.5)},
      {"hit_ms_p99", percentile(hits, 0.99)},
      {"miss_ms_p50", percentile(misses, 0.5)},
      {"miss_ms_p99", percentile(misses, 0.99)},
      {"miss_ms_max", misses.empty() ? 0.0 : *std::max_element(misses.begin(), misses.end())},
      {"rss_model_bytes", rss_model},
      {"rss_after_registration_bytes", rss_registered},
      {"rss_after_warmup_bytes", rss_full},
      {"rss_bytes", rss},
      {"rss_peak_bytes", hwm},
      {"rss_per_resident_adapter_bytes", s_warm.resident_adapters > 0
                                             ? static_cast<double>(rss_full - rss_model) /
                                                   static_cast<double>(s_warm.resident_adapters)
                                             : 0.0},
      {"store", dir.path().string()},
  };
  std::printf("%s\n", j.dump().c_str());
  return over_budget ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::pair<const char*, const char*> presets[] = {
      {"tiny", "tiny"}, {"small", "small"}, {"smollm", "smollm-135m"}};
  if (argc == 2 && std::string(argv[1]) == "--write-models") {
    for (const auto& [name, preset] : presets) {
      std::printf("%s\n", oap::bench::bench_model_dir(preset).c_str());
    }
    return 0;
  }
  if (argc >= 2 && std::string(argv[1]) == "--many") {
    std::map<std::string, std::string> args;
    for (int i = 2; i < argc; ++i) {
      std::string a = argv[i];
      if (!a.starts_with("--")) {
        std::fprintf(stderr, "adapter_bench --many: unexpected argument %s\n", a.c_str());
        return 2;
      }
      const auto eq = a.find('=');
      args[a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2)] =
          eq == std::string::npos ? "" : a.substr(eq + 1);
    }
    return many_adapters(args);
  }
  const std::pair<const char*, const char*> dtypes[] = {{"f32", "float32"}, {"bf16", "bfloat16"}};
  auto add = [](const std::string& name, auto fn, auto... args) {
    return benchmark::RegisterBenchmark(name.c_str(), fn, args...)
        ->Unit(benchmark::kMillisecond)
        ->MeasureProcessCPUTime()
        ->UseRealTime();
  };
  for (const auto& [name, preset] : presets) {
    for (const auto& [dname, dtype] : dtypes) {
      // Seconds per call: one timed call per process (adapter_bench_compare.py repeats them).
      add(std::string("BM_RapidUpdate/") + name + "_" + dname, BM_RapidUpdate, preset, dtype)
          ->Iterations(1);
    }
  }
  add("BM_AdapterReload/small", BM_AdapterReload, "small")->Unit(benchmark::kMicrosecond);
  add("BM_AdapterStoreOpen/small", BM_AdapterStoreOpen, "small")->Unit(benchmark::kMicrosecond);
  add("BM_LoadPeftAdapter/small", BM_LoadPeftAdapter, "small")->Unit(benchmark::kMicrosecond);
  for (const auto& [name, preset] : presets) {
    for (const auto& [dname, dtype] : dtypes) {
      for (int k : {0, 1, 8, 64}) {
        const std::string suffix = std::string(name) + "_" + dname + "/a" + std::to_string(k);
        add("BM_MixedPrefill/" + suffix, BM_MixedPrefill, preset, dtype, k);
        add("BM_MixedDecode/" + suffix, BM_MixedDecode, preset, dtype, k);
      }
    }
  }
  for (const auto& [dname, dtype] : dtypes) {
    for (std::int64_t t : {1, 64}) {
      for (int k : {0, 1, 8, 64}) {
        for (bool kept : {false, true}) {
          if (kept && k < 8) continue;  // a stack is only built for distinct pairs
          add(std::string("BM_LoraRows/") + dname + "/T" + std::to_string(t) + "/a" +
                  std::to_string(k) + (kept ? "/kept" : ""),
              BM_LoraRows, dtype, t, k, kept)
              ->Unit(benchmark::kMicrosecond);
        }
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
