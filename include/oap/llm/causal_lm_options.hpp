#pragma once
// CausalLMOptions: where and in which precision a CausalLM runs.

#include <nlohmann/json.hpp>
#include <string>

namespace oap {

// Load-time options of a CausalLM. Plain value type.
struct CausalLMOptions {
  // "cpu", "cuda" or "cuda:N". Default: "cpu". A CUDA device needs a CUDA build of LibTorch
  // (Debian's is CPU-only); load() refuses one that is not available.
  std::string device = "cpu";
  // "float32", "bfloat16" or "float16": the dtype of weights and activations (RMSNorm, RoPE
  // tables and softmax are computed in float32 as Hugging Face does). Default: "float32".
  // float16 is refused on the CPU: LibTorch 1.13 has no CPU fp16 matmul.
  std::string dtype = "float32";
  // Intra-op threads (at::set_num_threads, a process-wide setting). 0: all cores. Default: 0.
  int num_threads = 0;

  // Throws ConfigError naming the bad field.
  void validate() const;
  // Reads {"device", "dtype", "num_threads"}; unknown keys are an error.
  static CausalLMOptions from_json(const nlohmann::json& j, const std::string& context = "model");
  nlohmann::json to_json() const;
};

}  // namespace oap
