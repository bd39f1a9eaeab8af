#pragma once
// The random-weight models of the LLM benchmarks (llm_bench, adapter_bench) and their thread
// count, shared so that every benchmark program and the Python sides read the same files.
//
// Environment: OAP_BENCH_THREADS (CausalLMOptions::num_threads; default: all cores),
// OAP_BENCH_DECODE_THREADS (CausalLMOptions::decode_threads; default: the option's default),
// OAP_BENCH_MODELS (folder of the generated models, kept between runs; default
// /tmp/oap_bench_models). A model missing there is written on first use: the preset's shape,
// seed 1, float32, no tokenizer (a tokenizer too in <preset>-tokenizer, see bench_model_dir).
//
// Thread safety: bench_model() keeps a cache without a lock; call it from the benchmark's main
// thread only.

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "oap/llm/causal_lm.hpp"
#include "oap/llm/model_init.hpp"
#include "oap/llm/model_preset.hpp"

namespace oap::bench {

inline int bench_threads() {
  if (const char* t = std::getenv("OAP_BENCH_THREADS")) return std::atoi(t);
  return static_cast<int>(std::thread::hardware_concurrency());
}

// The folder of a preset's model, written first if missing. with_tokenizer: the model of the
// folder <preset>-tokenizer instead: the same preset and seed, plus init_random_model's
// tokenizer.json (for benchmarks that feed text).
inline std::filesystem::path bench_model_dir(const std::string& preset,
                                             bool with_tokenizer = false) {
  const char* root = std::getenv("OAP_BENCH_MODELS");
  const std::filesystem::path dir = std::filesystem::path(root ? root : "/tmp/oap_bench_models") /
                                    (with_tokenizer ? preset + "-tokenizer" : preset);
  if (!std::filesystem::exists(dir / "model.safetensors")) {
    InitModelOptions o;
    o.seed = 1;
    o.dtype = "float32";
    o.write_tokenizer = with_tokenizer;
    init_random_model(model_preset(preset), dir, o);
  }
  return dir;
}

// The preset's model loaded as dtype ("float32", "bfloat16") on bench_threads() threads; one
// instance per (preset, dtype) per process.
inline std::shared_ptr<const CausalLM> bench_model(const std::string& preset,
                                                   const std::string& dtype) {
  static std::map<std::string, std::shared_ptr<const CausalLM>> cache;
  auto& m = cache[preset + "/" + dtype];
  if (!m) {
    CausalLMOptions o;
    o.dtype = dtype;
    o.num_threads = bench_threads();
    if (const char* t = std::getenv("OAP_BENCH_DECODE_THREADS")) o.decode_threads = std::atoi(t);
    m = CausalLM::load(bench_model_dir(preset), o);
  }
  return m;
}

}  // namespace oap::bench
