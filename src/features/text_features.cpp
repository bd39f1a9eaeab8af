#include "oap/features/text_features.hpp"

#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <numbers>
#include <random>

#include "oap/core/json_config.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/tokenizer.hpp"

namespace oap {

void TextFeatureOptions::validate() const {
  OAP_CHECK(max_tokens >= 2, ConfigError,
            "text_features.max_tokens must be >= 2, got " + std::to_string(max_tokens));
  OAP_CHECK(embedding_dim <= 4096, ConfigError,
            "text_features.embedding_dim must be <= 4096, got " + std::to_string(embedding_dim));
}

void to_json(nlohmann::json& j, const TextFeatureOptions& o) {
  j = {{"surprise", o.surprise},
       {"surprise_under_adapter", o.surprise_under_adapter},
       {"embedding_dim", o.embedding_dim},
       {"projection_seed", o.projection_seed},
       {"max_tokens", o.max_tokens}};
}

void from_json(const nlohmann::json& j, TextFeatureOptions& o) {
  JsonObjectReader r(j, "text_features");
  o.surprise = r.get<bool>("surprise", o.surprise);
  o.surprise_under_adapter = r.get<bool>("surprise_under_adapter", o.surprise_under_adapter);
  o.embedding_dim = r.get<std::size_t>("embedding_dim", o.embedding_dim);
  o.projection_seed = r.get<std::uint64_t>("projection_seed", o.projection_seed);
  o.max_tokens = r.get<std::size_t>("max_tokens", o.max_tokens);
  r.finish();
  o.validate();
}

TextFeatureExtractor::TextFeatureExtractor(std::shared_ptr<const CausalLM> model,
                                           std::shared_ptr<const Tokenizer> tokenizer,
                                           TextFeatureOptions options)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)), options_(std::move(options)) {
  OAP_CHECK(model_ != nullptr && tokenizer_ != nullptr, InvalidArgument,
            "TextFeatureExtractor needs a model and its tokenizer");
  options_.validate();
  // A fixed projection, the same on every machine: std::normal_distribution is not portable
  // across standard libraries, so the Gaussian comes from Box-Muller over mt19937_64.
  const auto h = static_cast<std::size_t>(model_->config().hidden_size);
  const std::size_t k = options_.embedding_dim;
  projection_.resize(h * k);
  std::mt19937_64 rng(options_.projection_seed);
  const double scale = 1.0 / std::sqrt(static_cast<double>(std::max<std::size_t>(k, 1)));
  auto uniform = [&] { return (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53; };
  for (auto& v : projection_) {
    const double g =
        std::sqrt(-2.0 * std::log(uniform())) * std::cos(2.0 * std::numbers::pi * uniform());
    v = static_cast<float>(g * scale);
  }
}

std::size_t TextFeatureExtractor::dim() const {
  return (options_.surprise ? 1 : 0) + options_.embedding_dim;
}

TextFeatures TextFeatureExtractor::extract(std::string_view text,
                                           const LoraWeights* adapter) const {
  OAP_CHECK(!text.empty(), InvalidArgument, "TextFeatureExtractor: empty text");
  TextFeatures out;
  out.tokens = tokenizer_->encode(text, /*add_special=*/true);
  std::vector<std::int32_t> ids = out.tokens;
  if (ids.size() > options_.max_tokens) {
    ids.erase(ids.begin(), ids.end() - static_cast<long>(options_.max_tokens));
  }
  if (ids.size() < 2 && model_->config().bos_token_id) {
    ids.insert(ids.begin(), static_cast<std::int32_t>(*model_->config().bos_token_id));
  }
  if (ids.empty()) return out;
  torch::NoGradGuard no_grad;
  const auto n = static_cast<std::int64_t>(ids.size());
  auto row = torch::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), torch::kLong);
  // Row 0 under the base model (embedding; surprise unless measured under the adapter), row 1
  // under the adapter when there is one: one batched pass.
  const bool with_adapter = adapter != nullptr;
  const auto input = with_adapter ? torch::stack({row, row}) : row.unsqueeze(0);
  std::vector<const LoraWeights*> rows;
  if (with_adapter) rows = {nullptr, adapter};
  const auto hidden = model_->hidden_states(input, {}, nullptr, rows);  // [B, n, H]
  auto mean_nll = [&](std::int64_t r) {
    if (n < 2) return std::log(static_cast<double>(model_->config().vocab_size));
    const auto logits = model_->logits(hidden[r].narrow(0, 0, n - 1));  // [n-1, V]
    const auto logp = torch::log_softmax(logits.to(torch::kDouble), -1);
    const auto target = input[r].narrow(0, 1, n - 1).unsqueeze(1);
    return -logp.gather(1, target).mean().item<double>();
  };
  const double base_nll = mean_nll(0);
  out.nll = with_adapter ? mean_nll(1) : base_nll;
  if (options_.surprise) {
    out.surprise = options_.surprise_under_adapter ? out.nll : base_nll;
    out.values.push_back(out.surprise);
  }
  if (options_.embedding_dim > 0) {
    const auto base = hidden[0].to(torch::kFloat).mean(0).contiguous();  // [H]
    const auto h = base.size(0);
    const auto k = static_cast<std::int64_t>(options_.embedding_dim);
    const auto proj =
        torch::from_blob(const_cast<float*>(projection_.data()), {h, k}, torch::kFloat)
            .to(base.device());
    const auto e = torch::matmul(base, proj).to(torch::kDouble).cpu().contiguous();
    const double* p = e.data_ptr<double>();
    out.values.insert(out.values.end(), p, p + k);
  }
  return out;
}

}  // namespace oap
