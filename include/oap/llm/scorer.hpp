#pragma once
// score(): per-token log-probabilities and mean negative log-likelihood of token sequences.
// Thread safety: as CausalLM::forward without a cache (the model is only read); the returned
// values are the caller's.

#include <cstdint>
#include <span>
#include <vector>

namespace oap {

class CausalLM;
class LoraWeights;

// The score of one sequence under a model.
struct SequenceScore {
  std::vector<std::int32_t> token_ids;
  // logprobs[i] = log p(token_ids[i + 1] | token_ids[0..i]); size token_ids.size() - 1 (the first
  // token has no context and is not scored).
  std::vector<double> logprobs;
  double mean_nll = 0.0;    // -mean(logprobs); 0 for sequences of one token
  double perplexity = 1.0;  // exp(mean_nll)
};

// Scores sequences in batches of up to batch_size (left-padded, with an attention mask), each
// with its adapter: adapters empty (none), one (all sequences) or one per sequence (nullptr =
// none). Runs without autograd. Throws InvalidArgument for an empty sequence or out-of-vocabulary
// id.
std::vector<SequenceScore> score(const CausalLM& model,
                                 const std::vector<std::vector<std::int32_t>>& sequences,
                                 std::span<const LoraWeights* const> adapters = {},
                                 std::size_t batch_size = 8);

}  // namespace oap
