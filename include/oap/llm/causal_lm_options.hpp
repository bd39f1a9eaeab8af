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
  // Intra-op threads of a decode step: a forward() call over at most decode_max_tokens tokens
  // (batch x new tokens). Set for the calling thread only (an OpenMP setting), so concurrent
  // calls do not interfere. 0: num_threads. Default: 1.
  // Why 1: a decode step is ~10 small ops per layer, and each multi-threaded one (every bf16
  // matmul: oneDNN always forks) ends at a barrier that waits for all its threads. When another
  // process holds a core, each barrier waits for a scheduler time slice and a step becomes
  // 10-100x slower (docs/benchmarks.md). On an otherwise idle machine, 0 makes single-stream
  // decode of models from the "small" preset (32M parameters) up 1.3-1.7x faster on 2 cores,
  // for ~1.5x the CPU time per token. Values other than 1 and num_threads make OpenBLAS (f32
  // matmuls) switch its process-wide thread count back and forth.
  int decode_threads = 1;
  // The largest forward() call, in batch x new tokens, that runs on decode_threads. Default: 4.
  int decode_max_tokens = 4;
  // On glibc, the first CPU model loaded sets the process's malloc mmap threshold to 32 MiB and
  // trim threshold to 64 MiB (the values glibc's own dynamic rule stops at), unless GLIBC_TUNABLES
  // or MALLOC_*_THRESHOLD_ is set. Without it, a process that never freed a large block returns
  // freed activations to the OS after every op and faults them back in: ~10% of a bf16 prefill.
  // The cost: up to 64 MiB of freed memory stays with the process. Default: true.
  bool tune_glibc_malloc = true;

  // Throws ConfigError naming the bad field.
  void validate() const;
};
// The config section "model": {"device", "dtype", "num_threads", "decode_threads",
// "decode_max_tokens", "tune_glibc_malloc"}, each optional (default above). from_json throws
// ConfigError naming the field ("model.num_threads: ...") for an unknown key, a value of the
// wrong type, or one validate() refuses.
void to_json(nlohmann::json& j, const CausalLMOptions& o);
void from_json(const nlohmann::json& j, CausalLMOptions& o);

}  // namespace oap
