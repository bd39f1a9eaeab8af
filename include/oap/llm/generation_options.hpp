#pragma once
// GenerationOptions: decoding settings of a Generator.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace oap {

// How a Generator picks tokens and when it stops. Plain value type. The logits processors run in
// Hugging Face's order: repetition penalty, then temperature, top-k, top-p.
struct GenerationOptions {
  // New tokens to produce at most. Default: 64. Must be > 0.
  std::size_t max_new_tokens = 64;
  // Softmax temperature; 0 means greedy (argmax, deterministic). Default: 0. Must be >= 0.
  double temperature = 0.0;
  // Keep only the k most likely tokens before sampling; 0 disables. Default: 0.
  std::size_t top_k = 0;
  // Nucleus sampling: keep the smallest set of tokens whose probability reaches top_p; 1
  // disables. Default: 1. Must be in (0, 1].
  double top_p = 1.0;
  // Divides positive (multiplies negative) logits of tokens already in the prompt or output
  // (CTRL / HF convention); 1 disables. Default: 1. Must be > 0.
  double repetition_penalty = 1.0;
  // Seed of the sampler: same seed, same model, same prompt, same output. Default: 0.
  std::uint64_t seed = 0;
  // Stop after emitting one of these ids (the stop token is kept in the output ids, not in the
  // text). Default: none.
  std::vector<std::int64_t> stop_token_ids;
  // Also stop at the model's eos_token_id(s). Default: true.
  bool stop_at_eos = true;
  // Stop when the decoded output contains one of these strings (the text is cut before it).
  // Needs a tokenizer. Default: none.
  std::vector<std::string> stop_strings;

  // Throws ConfigError naming the bad field.
  void validate() const;
};
// The config section "generation": the fields above by name, each optional (default above).
// from_json throws ConfigError naming the field ("generation.top_p: ...") for an unknown key, a
// value of the wrong type, or one validate() refuses.
void to_json(nlohmann::json& j, const GenerationOptions& o);
void from_json(const nlohmann::json& j, GenerationOptions& o);

}  // namespace oap
