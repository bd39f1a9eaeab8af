// LLM runtime benchmarks: prefill and decode tokens/s of random-weight models of the presets'
// shapes, f32 and bf16, and one LoRA forward+backward step. Compare with
// bench/llm_bench_compare.py (Python PyTorch, same models, same thread count).
//
// Environment: OAP_BENCH_THREADS (default: all cores), OAP_BENCH_MODELS (folder for the
// generated models, kept between runs; default /tmp/oap_bench_models).

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "oap/llm/causal_lm.hpp"
#include "oap/llm/lora_weights.hpp"
#include "oap/llm/model_init.hpp"
#include "oap/llm/model_preset.hpp"

namespace {

constexpr std::int64_t kPrompt = 64;   // prefill length
constexpr std::int64_t kContext = 64;  // cached tokens before the timed decode steps

int bench_threads() {
  if (const char* t = std::getenv("OAP_BENCH_THREADS")) return std::atoi(t);
  return static_cast<int>(std::thread::hardware_concurrency());
}

std::filesystem::path model_dir(const std::string& preset) {
  const char* root = std::getenv("OAP_BENCH_MODELS");
  const std::filesystem::path dir =
      std::filesystem::path(root ? root : "/tmp/oap_bench_models") / preset;
  if (!std::filesystem::exists(dir / "model.safetensors")) {
    oap::InitModelOptions o;
    o.seed = 1;
    o.dtype = "float32";
    o.write_tokenizer = false;
    oap::init_random_model(oap::model_preset(preset), dir, o);
  }
  return dir;
}

std::shared_ptr<const oap::CausalLM> model(const std::string& preset, const std::string& dtype) {
  static std::map<std::string, std::shared_ptr<const oap::CausalLM>> cache;
  const std::string key = preset + "/" + dtype;
  auto& m = cache[key];
  if (!m) {
    oap::CausalLMOptions o;
    o.dtype = dtype;
    o.num_threads = bench_threads();
    m = oap::CausalLM::load(model_dir(preset), o);
  }
  return m;
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
  state.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(kPrompt), benchmark::Counter::kIsIterationInvariantRate);
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

BENCHMARK_CAPTURE(BM_Prefill, tiny_f32, "tiny", "float32")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Prefill, tiny_bf16, "tiny", "bfloat16")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Prefill, small_f32, "small", "float32")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Prefill, small_bf16, "small", "bfloat16")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Prefill, smollm_f32, "smollm-135m", "float32")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Prefill, smollm_bf16, "smollm-135m", "bfloat16")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, tiny_f32, "tiny", "float32")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, tiny_bf16, "tiny", "bfloat16")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, small_f32, "small", "float32")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, small_bf16, "small", "bfloat16")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, smollm_f32, "smollm-135m", "float32")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, smollm_bf16, "smollm-135m", "bfloat16")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LoraStep, tiny, "tiny")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LoraStep, small, "small")->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
