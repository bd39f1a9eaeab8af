#include "oap/llm/sampling.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <limits>

#include "oap/core/error.hpp"

namespace oap {
namespace {

at::Tensor penalised(const at::Tensor& logits, std::span<const std::int64_t> history,
                     double penalty) {
  OAP_CHECK(logits.dim() == 1 && logits.size(0) > 0, InvalidArgument,
            "sample_next_token: logits must be [V]");
  auto l = logits.detach().to(torch::kCPU, torch::kDouble).contiguous().clone();
  if (penalty != 1.0 && !history.empty()) {
    auto* p = l.data_ptr<double>();
    const auto v = l.size(0);
    std::vector<std::int64_t> ids(history.begin(), history.end());
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (auto id : ids) {
      if (id < 0 || id >= v) continue;
      p[id] = p[id] < 0 ? p[id] * penalty : p[id] / penalty;
    }
  }
  return l;
}

}  // namespace

at::Tensor next_token_probabilities(const at::Tensor& logits, std::span<const std::int64_t> history,
                                    const GenerationOptions& options) {
  auto l = penalised(logits, history, options.repetition_penalty);
  const auto v = l.size(0);
  if (options.temperature == 0.0) {
    auto probs = torch::zeros({v}, torch::kDouble);
    probs[l.argmax().item<std::int64_t>()] = 1.0;
    return probs;
  }
  l = l / options.temperature;
  const double neg_inf = -std::numeric_limits<double>::infinity();
  if (options.top_k > 0 && static_cast<std::int64_t>(options.top_k) < v) {
    const auto kth = std::get<0>(l.topk(static_cast<std::int64_t>(options.top_k)))[-1];
    l = l.masked_fill(l < kth, neg_inf);
  }
  auto probs = torch::softmax(l, 0);
  if (options.top_p < 1.0) {
    auto [sorted, order] = probs.sort(0, /*descending=*/true);
    auto before = sorted.cumsum(0) - sorted;  // mass of strictly more likely tokens
    auto drop_sorted = before >= options.top_p;
    drop_sorted[0] = false;  // always keep the most likely token
    auto drop = torch::zeros({v}, torch::kBool).scatter(0, order, drop_sorted);
    probs = probs.masked_fill(drop, 0.0);
    probs = probs / probs.sum();
  }
  return probs;
}

std::int64_t sample_next_token(const at::Tensor& logits, std::span<const std::int64_t> history,
                               const GenerationOptions& options, std::mt19937_64& rng) {
  auto probs = next_token_probabilities(logits, history, options);
  if (options.temperature == 0.0) return probs.argmax().item<std::int64_t>();
  const auto* p = probs.data_ptr<double>();
  const auto v = probs.size(0);
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  double cum = 0.0;
  std::int64_t last_nonzero = 0;
  for (std::int64_t i = 0; i < v; ++i) {
    if (p[i] <= 0.0) continue;
    last_nonzero = i;
    cum += p[i];
    if (u < cum) return i;
  }
  return last_nonzero;  // rounding left u above the total mass
}

}  // namespace oap
