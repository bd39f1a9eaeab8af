// LLM runtime benchmarks: prefill and decode tokens/s of random-weight models of the presets'
// shapes, f32 and bf16, and one LoRA forward+backward step. Compare with Python PyTorch (same
// models, same thread count) through `bench/llm_bench_compare.py --cxx PATH/llm_bench`, which
// runs both interleaved.
//
// Environment: OAP_BENCH_THREADS, OAP_BENCH_DECODE_THREADS, OAP_BENCH_MODELS (bench_models.hpp;
// `llm_bench --write-models` writes the models and exits). CPU time is the process's (all
// threads, spin-waiting included).

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "bench_models.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/lora_weights.hpp"

namespace {

constexpr std::int64_t kPrompt = 64;   // prefill length
constexpr std::int64_t kContext = 64;  // cached tokens before the timed decode steps

using oap::bench::bench_threads;

std::shared_ptr<const oap::CausalLM> model(const std::string& preset, const std::string& dtype) {
  return oap::bench::bench_model(preset, dtype);
}

void BM_Prefill(benchmark::State& state, std::string preset, std::string dtype) {
  auto m = model(preset, dtype);
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(0, m->config().vocab_size, {1, kPrompt}, torch::kLong);
  m->forward(ids, {}, nullptr, {}, true);  // warm-up: page in the mapped weights
  for (auto _ : state) {
    auto cache = m->new_cache();
    auto logits = m->forward(ids, {}, &cache, {}, /*last_only=*/true);
    benchmark::DoNotOptimize(logits.data_ptr());
  }
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(kPrompt), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = bench_threads();
}

void BM_Decode(benchmark::State& state, std::string preset, std::string dtype) {
  auto m = model(preset, dtype);
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(0, m->config().vocab_size, {1, kContext}, torch::kLong);
  auto next = torch::randint(0, m->config().vocab_size, {1, 1}, torch::kLong);
  auto cache = m->new_cache();
  m->forward(ids, {}, &cache, {}, true);
  cache.truncate(kContext);
  m->forward(next, {}, &cache, {}, true);  // warm-up
  for (auto _ : state) {
    // One decode step at context kContext: keep the cache length fixed by truncating back.
    cache.truncate(kContext);
    auto logits = m->forward(next, {}, &cache, {}, /*last_only=*/true);
    benchmark::DoNotOptimize(logits.data_ptr());
  }
  state.counters["tokens_per_s"] =
      benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = bench_threads();
}

// One rapid-adaptation step: forward with a rank-8 adapter on q/v, cross-entropy over 64 tokens,
// backward into the adapter only.
void BM_LoraStep(benchmark::State& state, std::string preset) {
  auto m = model(preset, "float32");
  auto adapter = oap::LoraWeights::create(m->config(), 8, 16.0,
                                          {oap::LoraTarget::kQ, oap::LoraTarget::kV}, false, 1);
  auto ids = torch::randint(0, m->config().vocab_size, {1, kPrompt}, torch::kLong);
  const oap::LoraWeights* one[] = {&adapter};
  for (auto _ : state) {
    auto logits = m->forward(ids, {}, nullptr, one);
    auto loss = torch::nn::functional::cross_entropy(
        logits.narrow(1, 0, kPrompt - 1).reshape({-1, m->config().vocab_size}),
        ids.narrow(1, 1, kPrompt - 1).reshape({-1}));
    loss.backward();
    for (auto& p : adapter.parameters()) p.mutable_grad().reset();
  }
  state.counters["threads"] = bench_threads();
}

}  // namespace

int main(int argc, char** argv) {
  // Names as BM_Prefill/small_bf16: bench/llm_bench_compare.py runs them one by one.
  const std::pair<const char*, const char*> presets[] = {
      {"tiny", "tiny"}, {"small", "small"}, {"smollm", "smollm-135m"}};
  // --write-models: only write the models (llm_bench_compare.py needs them before any case).
  if (argc == 2 && std::string(argv[1]) == "--write-models") {
    for (const auto& [name, preset] : presets)
      std::printf("%s\n", oap::bench::bench_model_dir(preset).c_str());
    return 0;
  }
  const std::pair<const char*, const char*> dtypes[] = {{"f32", "float32"}, {"bf16", "bfloat16"}};
  auto add = [](const std::string& name, auto fn, auto... args) {
    benchmark::RegisterBenchmark(name.c_str(), fn, args...)
        ->Unit(benchmark::kMillisecond)
        ->MeasureProcessCPUTime();
  };
  for (const auto& [name, preset] : presets) {
    for (const auto& [dname, dtype] : dtypes) {
      add(std::string("BM_Prefill/") + name + "_" + dname, BM_Prefill, preset, dtype);
    }
  }
  for (const auto& [name, preset] : presets) {
    for (const auto& [dname, dtype] : dtypes) {
      add(std::string("BM_Decode/") + name + "_" + dname, BM_Decode, preset, dtype);
    }
  }
  for (const char* preset : {"tiny", "small"}) {
    add(std::string("BM_LoraStep/") + preset, BM_LoraStep, preset);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
