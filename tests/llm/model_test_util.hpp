#pragma once
// Helpers shared by the llm model tests: temporary folders and small random checkpoints.

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "oap/llm/model_config.hpp"
#include "oap/llm/model_init.hpp"
#include "oap/llm/model_preset.hpp"

namespace oap::testing {

// A fresh folder under the temp dir, removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> n{0};
    path_ = std::filesystem::temp_directory_path() /
            ("oap_llm_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A very small Llama config (fast tests) with GQA, odd sizes and an untied head by default.
inline ModelConfig micro_config() {
  ModelConfig c = model_preset("tiny");
  c.vocab_size = 97;
  c.hidden_size = 48;
  c.intermediate_size = 80;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.tie_word_embeddings = false;
  c.rms_norm_eps = 1e-5;
  return c;
}

// Writes a random model of config c (no tokenizer) with weights large enough that mistakes
// show up in the logits.
inline ModelConfig write_micro_model(const std::filesystem::path& dir, ModelConfig c,
                                     std::uint64_t seed = 1, const std::string& dtype = "float32") {
  InitModelOptions o;
  o.seed = seed;
  o.dtype = dtype;
  o.init_std = 0.2;
  o.write_tokenizer = false;
  return init_random_model(std::move(c), dir, o);
}

// The first Python interpreter that can import torch, or "" (python3 may be a pyenv shim
// without Debian's python3-torch; /usr/bin/python3 has it).
inline std::string python_with_torch() {
  for (const char* py : {"python3", "/usr/bin/python3"}) {
    const std::string cmd = std::string(py) + " -c 'import torch' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return py;
  }
  return "";
}

}  // namespace oap::testing
