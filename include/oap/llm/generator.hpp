#pragma once
// Generator: autoregressive text generation with a CausalLM, a KV cache and a sampler.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "oap/llm/generation_options.hpp"

namespace oap {

class CausalLM;
class LoraWeights;
class Tokenizer;

// What generate() produced.
struct GenerationResult {
  std::vector<std::int32_t> tokens;  // the new token ids (a stop token included)
  std::string text;                  // decoded new tokens (special tokens skipped, cut at a stop
                                     // string); empty without a tokenizer
  std::string finish_reason;         // "length", "stop_token", "stop_string" or "callback"
};

// Called once per new token with its id and the text it completed (may be empty while a UTF-8
// character is incomplete). Return false to stop generation.
using TokenCallback = std::function<bool(std::int32_t token, std::string_view text)>;

// Generates continuations of one prompt: prefill with the KV cache, then one token per step,
// sampled as GenerationOptions say (greedy, temperature, top-k, top-p, repetition penalty; same
// seed, same output). An optional LoRA adapter applies to every step.
// Thread safety: const; generate() may run concurrently (each call has its own cache and RNG).
// Ownership: shares the model and tokenizer.
class Generator {
 public:
  // tokenizer may be null: then only token-id prompts work and no text or stop strings.
  explicit Generator(std::shared_ptr<const CausalLM> model,
                     std::shared_ptr<const Tokenizer> tokenizer = nullptr);

  GenerationResult generate(std::span<const std::int32_t> prompt, const GenerationOptions& options,
                            const LoraWeights* adapter = nullptr,
                            const TokenCallback& on_token = {}) const;
  // Encodes prompt with the tokenizer (adding its BOS/EOS post-processing).
  GenerationResult generate(std::string_view prompt, const GenerationOptions& options,
                            const LoraWeights* adapter = nullptr,
                            const TokenCallback& on_token = {}) const;

  // Continues several prompts in one batch (left-padded, with an attention mask and one KV
  // cache), row i with adapters[i]: adapters empty (none), one (all rows) or one per prompt
  // (nullptr for none): a batch serving several users at once. Each row samples with its own
  // generator seeded with options.seed and stops on its own, so a row gets what generate() would
  // give it alone (up to floating-point reordering in the padded batch). No streaming callback.
  std::vector<GenerationResult> generate_batch(
      const std::vector<std::vector<std::int32_t>>& prompts, const GenerationOptions& options,
      std::span<const LoraWeights* const> adapters = {}) const;

  const CausalLM& model() const { return *model_; }

 private:
  struct Row;
  std::vector<std::int64_t> stop_ids(const GenerationOptions& options) const;

  std::shared_ptr<const CausalLM> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
};

}  // namespace oap
