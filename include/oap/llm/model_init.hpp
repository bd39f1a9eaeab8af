#pragma once
// Random-weight checkpoints in the Hugging Face layout, for tests and benchmarks.
// Thread safety: init_random_model may run concurrently for different output folders.

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "oap/llm/model_config.hpp"

namespace oap {

// How init_random_model fills a model folder. Plain value type.
struct InitModelOptions {
  // Seed of the weights (LibTorch CPU generator). Same seed, same bytes. Default: 0.
  std::uint64_t seed = 0;
  // Stored dtype: "float32" or "bfloat16"; empty uses config.torch_dtype. Default: "".
  std::string dtype;
  // Standard deviation of projection and embedding weights (HF initializer_range). Norm weights
  // are 1 + init_std * N(0, 1) so that a model that ignores them is caught. Default: 0.02.
  double init_std = 0.02;
  // Write tokenizer.json (a byte-level BPE trained on a small built-in English corpus) and take
  // bos/eos ids from it. Default: true.
  bool write_tokenizer = true;
  // Vocabulary of the trained tokenizer (capped by the config's vocab_size; training stops
  // earlier when the corpus has no pair left). Default: 1024.
  std::size_t tokenizer_vocab_size = 1024;
};

// Writes config.json, model.safetensors, generation_config.json and (optionally)
// tokenizer.json into out_dir (created if missing; each file written atomically). Returns the
// config as written (with token ids filled in). Throws IoError/InvalidArgument.
ModelConfig init_random_model(ModelConfig config, const std::filesystem::path& out_dir,
                              const InitModelOptions& options = {});

}  // namespace oap
