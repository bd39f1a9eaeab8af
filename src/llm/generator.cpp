#include "oap/llm/generator.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <random>

#include "oap/core/error.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/sampling.hpp"
#include "oap/llm/tokenizer.hpp"

namespace oap {
namespace {

// True if text ends inside a UTF-8 sequence (decoders emit U+FFFD for it): hold it back.
bool ends_incomplete(const std::string& text) {
  return text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

}  // namespace

Generator::Generator(std::shared_ptr<const CausalLM> model,
                     std::shared_ptr<const Tokenizer> tokenizer)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)) {
  OAP_CHECK(model_ != nullptr, InvalidArgument, "Generator needs a model");
}

GenerationResult Generator::generate(std::string_view prompt, const GenerationOptions& options,
                                     const LoraWeights* adapter,
                                     const TokenCallback& on_token) const {
  OAP_CHECK(tokenizer_ != nullptr, InvalidArgument,
            "Generator::generate(text) needs a tokenizer (construct the Generator with one)");
  const auto ids = tokenizer_->encode(prompt, /*add_special=*/true);
  return generate(std::span<const std::int32_t>(ids), options, adapter, on_token);
}

GenerationResult Generator::generate(std::span<const std::int32_t> prompt,
                                     const GenerationOptions& options, const LoraWeights* adapter,
                                     const TokenCallback& on_token) const {
  options.validate();
  OAP_CHECK(!prompt.empty(), InvalidArgument, "Generator::generate: empty prompt");
  OAP_CHECK(options.stop_strings.empty() || tokenizer_ != nullptr, InvalidArgument,
            "Generator::generate: stop_strings need a tokenizer");
  torch::NoGradGuard no_grad;
  std::vector<std::int64_t> stops = options.stop_token_ids;
  if (options.stop_at_eos) {
    for (auto id : model_->config().eos_token_ids) stops.push_back(id);
  }
  std::vector<std::int64_t> history(prompt.begin(), prompt.end());
  std::mt19937_64 rng(options.seed);
  std::vector<const LoraWeights*> adapters;
  if (adapter != nullptr) adapters.push_back(adapter);

  GenerationResult result;
  result.finish_reason = "length";
  auto cache = model_->new_cache();
  auto input = torch::tensor(history, torch::kLong).unsqueeze(0);
  std::size_t emitted_bytes = 0;
  for (std::size_t step = 0; step < options.max_new_tokens; ++step) {
    auto logits = model_->forward(input, {}, &cache, adapters, /*last_only=*/true);
    const std::int64_t next = sample_next_token(logits[0][0], history, options, rng);
    history.push_back(next);
    result.tokens.push_back(static_cast<std::int32_t>(next));
    const bool is_stop = std::find(stops.begin(), stops.end(), next) != stops.end();

    std::string piece;
    if (tokenizer_ != nullptr && !is_stop) {
      // A model's vocabulary may be larger than its tokenizer's (padding rows, as in Qwen2);
      // such ids have no text.
      std::vector<std::int32_t> out;
      const auto tok_vocab = tokenizer_->vocab_size();
      for (auto id : result.tokens) {
        if (id >= 0 && static_cast<std::size_t>(id) < tok_vocab) out.push_back(id);
      }
      std::string text = tokenizer_->decode(out, /*skip_special=*/true);
      for (const auto& s : options.stop_strings) {
        const auto pos = text.find(s);
        if (pos != std::string::npos) {
          result.text = text.substr(0, pos);
          result.finish_reason = "stop_string";
          if (on_token && pos > emitted_bytes) {
            on_token(static_cast<std::int32_t>(next),
                     std::string_view(text).substr(emitted_bytes, pos - emitted_bytes));
          }
          return result;
        }
      }
      result.text = text;
      if (!ends_incomplete(text) && text.size() >= emitted_bytes) {
        piece = text.substr(emitted_bytes);
        emitted_bytes = text.size();
      }
    }
    if (on_token && !on_token(static_cast<std::int32_t>(next), piece)) {
      result.finish_reason = "callback";
      return result;
    }
    if (is_stop) {
      result.finish_reason = "stop_token";
      return result;
    }
    input = torch::tensor({next}, torch::kLong).unsqueeze(0);
  }
  return result;
}

}  // namespace oap
