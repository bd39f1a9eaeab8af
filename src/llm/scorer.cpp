#include "oap/llm/scorer.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "oap/core/error.hpp"
#include "oap/llm/causal_lm.hpp"

namespace oap {

std::vector<SequenceScore> score(const CausalLM& model,
                                 const std::vector<std::vector<std::int32_t>>& sequences,
                                 std::span<const LoraWeights* const> adapters,
                                 std::size_t batch_size) {
  OAP_CHECK(adapters.size() <= 1 || adapters.size() == sequences.size(), InvalidArgument,
            "score: adapters must be empty, one, or one per sequence (" +
                std::to_string(sequences.size()) + "), got " + std::to_string(adapters.size()));
  OAP_CHECK(batch_size > 0, InvalidArgument, "score: batch_size must be > 0");
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    OAP_CHECK(!sequences[i].empty(), InvalidArgument,
              "score: sequence " + std::to_string(i) + " is empty");
  }
  torch::NoGradGuard no_grad;
  std::vector<SequenceScore> out(sequences.size());
  for (std::size_t start = 0; start < sequences.size(); start += batch_size) {
    const std::size_t n = std::min(batch_size, sequences.size() - start);
    std::size_t len = 0;
    for (std::size_t i = 0; i < n; ++i) len = std::max(len, sequences[start + i].size());
    const auto t = static_cast<std::int64_t>(len);
    auto ids = torch::zeros({static_cast<std::int64_t>(n), t}, torch::kLong);
    auto mask = torch::zeros({static_cast<std::int64_t>(n), t}, torch::kLong);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& s = sequences[start + i];
      const auto pad = t - static_cast<std::int64_t>(s.size());
      std::vector<std::int64_t> row(s.begin(), s.end());
      ids[static_cast<std::int64_t>(i)]
          .narrow(0, pad, static_cast<std::int64_t>(s.size()))
          .copy_(torch::tensor(row, torch::kLong));
      mask[static_cast<std::int64_t>(i)]
          .narrow(0, pad, static_cast<std::int64_t>(s.size()))
          .fill_(1);
    }
    std::vector<const LoraWeights*> batch_adapters;
    if (adapters.size() == 1) {
      batch_adapters.push_back(adapters[0]);
    } else if (!adapters.empty()) {
      batch_adapters.assign(adapters.begin() + static_cast<long>(start),
                            adapters.begin() + static_cast<long>(start + n));
    }
    // Position k's log-probability of token k + 1, straight from the head (CausalLM::token_nll:
    // no [n, T, V] float32 logits); padding positions are scored too and never read.
    auto hidden = model.hidden_states(ids, mask, nullptr, batch_adapters);  // [n, T, H]
    auto nll = model.token_nll(hidden.narrow(1, 0, t - 1).reshape({-1, hidden.size(2)}),
                               ids.narrow(1, 1, t - 1).reshape({-1}));
    const auto logp = (-nll).view({static_cast<std::int64_t>(n), t - 1}).to(torch::kDouble).cpu();
    const auto acc = logp.accessor<double, 2>();
    for (std::size_t i = 0; i < n; ++i) {
      const auto& s = sequences[start + i];
      auto& r = out[start + i];
      r.token_ids = s;
      const auto pad = t - static_cast<std::int64_t>(s.size());
      double total = 0.0;
      for (std::size_t k = 1; k < s.size(); ++k) {
        const double lp = acc[static_cast<std::int64_t>(i)][pad + static_cast<std::int64_t>(k) - 1];
        r.logprobs.push_back(lp);
        total -= lp;
      }
      r.mean_nll = s.size() > 1 ? total / static_cast<double>(s.size() - 1) : 0.0;
      r.perplexity = std::exp(r.mean_nll);
    }
  }
  return out;
}

}  // namespace oap
