#pragma once
// Next-token selection from logits: repetition penalty, temperature, top-k, top-p, greedy.
// Thread safety: free functions; safe concurrently as long as each thread has its own rng.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <random>
#include <span>

#include "oap/llm/generation_options.hpp"

namespace oap {

// Applies the repetition penalty to logits [V] for the ids in history (each once), then, with
// temperature 0, returns the argmax (lowest id on ties); otherwise divides by the temperature,
// keeps the top_k and the top_p nucleus and draws from the softmax with rng (in double
// precision on the CPU, so the draw is the same on every device). logits: [V], any float dtype,
// any device. Pure function apart from rng.
std::int64_t sample_next_token(const at::Tensor& logits, std::span<const std::int64_t> history,
                               const GenerationOptions& options, std::mt19937_64& rng);

// The processed probabilities sample_next_token draws from (zeros outside top-k/top-p), as
// float64 [V] on the CPU. For greedy decoding, one-hot at the argmax. Exposed for tests.
at::Tensor next_token_probabilities(const at::Tensor& logits, std::span<const std::int64_t> history,
                                    const GenerationOptions& options);

}  // namespace oap
