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

// One sequence being generated: its ids so far, its sampler and what it produced.
struct Generator::Row {
  Row(std::span<const std::int32_t> prompt, std::uint64_t seed)
      : history(prompt.begin(), prompt.end()), rng(seed) {
    result.finish_reason = "length";
  }

  // Takes the sampled token: appends it, updates the text (tokenizer given) and says whether
  // the row is finished (finish_reason "stop_token" or "stop_string"). *piece: the new text to
  // stream (for a stop string, the text before it not yet streamed).
  bool accept(std::int64_t next, const std::vector<std::int64_t>& stops,
              const GenerationOptions& options, const Tokenizer* tokenizer, std::string* piece) {
    history.push_back(next);
    result.tokens.push_back(static_cast<std::int32_t>(next));
    const bool is_stop = std::find(stops.begin(), stops.end(), next) != stops.end();
    if (tokenizer != nullptr && !is_stop) {
      // A model's vocabulary may be larger than its tokenizer's (padding rows, as in Qwen2);
      // such ids have no text.
      std::vector<std::int32_t> out;
      const auto tok_vocab = tokenizer->vocab_size();
      for (auto id : result.tokens) {
        if (id >= 0 && static_cast<std::size_t>(id) < tok_vocab) out.push_back(id);
      }
      std::string text = tokenizer->decode(out, /*skip_special=*/true);
      for (const auto& s : options.stop_strings) {
        const auto pos = text.find(s);
        if (pos != std::string::npos) {
          result.text = text.substr(0, pos);
          result.finish_reason = "stop_string";
          if (pos > emitted_bytes) *piece = text.substr(emitted_bytes, pos - emitted_bytes);
          return true;
        }
      }
      result.text = text;
      if (!ends_incomplete(text) && text.size() >= emitted_bytes) {
        *piece = text.substr(emitted_bytes);
        emitted_bytes = text.size();
      }
    }
    if (is_stop) result.finish_reason = "stop_token";
    return is_stop;
  }

  std::vector<std::int64_t> history;
  std::mt19937_64 rng;
  GenerationResult result;
  std::size_t emitted_bytes = 0;
};

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
  const auto stops = stop_ids(options);
  Row row(prompt, options.seed);
  std::vector<const LoraWeights*> adapters;
  if (adapter != nullptr) adapters.push_back(adapter);

  auto cache = model_->new_cache();
  auto input = torch::tensor(row.history, torch::kLong).unsqueeze(0);
  for (std::size_t step = 0; step < options.max_new_tokens; ++step) {
    auto logits = model_->forward(input, {}, &cache, adapters, /*last_only=*/true);
    const std::int64_t next = sample_next_token(logits[0][0], row.history, options, row.rng);
    std::string piece;
    const bool stop = row.accept(next, stops, options, tokenizer_.get(), &piece);
    if (row.result.finish_reason == "stop_string") {
      if (on_token && !piece.empty()) on_token(static_cast<std::int32_t>(next), piece);
      return row.result;
    }
    if (on_token && !on_token(static_cast<std::int32_t>(next), piece)) {
      row.result.finish_reason = "callback";
      return row.result;
    }
    if (stop) return row.result;
    input = torch::tensor({next}, torch::kLong).unsqueeze(0);
  }
  return row.result;
}

std::vector<GenerationResult> Generator::generate_batch(
    const std::vector<std::vector<std::int32_t>>& prompts, const GenerationOptions& options,
    std::span<const LoraWeights* const> adapters) const {
  options.validate();
  OAP_CHECK(options.stop_strings.empty() || tokenizer_ != nullptr, InvalidArgument,
            "Generator::generate_batch: stop_strings need a tokenizer");
  OAP_CHECK(adapters.size() <= 1 || adapters.size() == prompts.size(), InvalidArgument,
            "Generator::generate_batch: adapters must be empty, one, or one per prompt (" +
                std::to_string(prompts.size()) + "), got " + std::to_string(adapters.size()));
  if (prompts.empty()) return {};
  torch::NoGradGuard no_grad;
  const auto stops = stop_ids(options);
  const auto batch = static_cast<std::int64_t>(prompts.size());
  std::vector<Row> rows;
  std::size_t longest = 0;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    OAP_CHECK(!prompts[i].empty(), InvalidArgument,
              "Generator::generate_batch: prompt " + std::to_string(i) + " is empty");
    rows.emplace_back(prompts[i], options.seed);
    longest = std::max(longest, prompts[i].size());
  }
  // Left padding: every row's last prompt token sits in the last column.
  const auto len = static_cast<std::int64_t>(longest);
  auto input = torch::zeros({batch, len}, torch::kLong);
  auto mask = torch::zeros({batch, len}, torch::kLong);
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto& h = rows[static_cast<std::size_t>(b)].history;
    const auto n = static_cast<std::int64_t>(h.size());
    input[b].narrow(0, len - n, n).copy_(torch::tensor(h, torch::kLong));
    mask[b].narrow(0, len - n, n).fill_(1);
  }
  auto cache = model_->new_cache();
  std::vector<bool> done(prompts.size(), false);
  for (std::size_t step = 0; step < options.max_new_tokens; ++step) {
    auto logits = model_->forward(input, mask, &cache, adapters, /*last_only=*/true);
    std::vector<std::int64_t> next(prompts.size(), 0);
    std::vector<std::int64_t> live(prompts.size(), 0);
    bool any_live = false;
    for (std::size_t b = 0; b < rows.size(); ++b) {
      if (done[b]) continue;
      auto& row = rows[b];
      next[b] =
          sample_next_token(logits[static_cast<std::int64_t>(b)][0], row.history, options, row.rng);
      std::string piece;
      done[b] = row.accept(next[b], stops, options, tokenizer_.get(), &piece);
      // A finished row is fed a masked-out token until the whole batch is done.
      live[b] = done[b] ? 0 : 1;
      any_live = any_live || !done[b];
    }
    if (!any_live) break;
    input = torch::tensor(next, torch::kLong).unsqueeze(1);
    mask = torch::cat({mask, torch::tensor(live, torch::kLong).unsqueeze(1)}, 1);
  }
  std::vector<GenerationResult> out;
  out.reserve(rows.size());
  for (auto& row : rows) out.push_back(std::move(row.result));
  return out;
}

std::vector<std::int64_t> Generator::stop_ids(const GenerationOptions& options) const {
  std::vector<std::int64_t> stops = options.stop_token_ids;
  if (options.stop_at_eos) {
    for (auto id : model_->config().eos_token_ids) stops.push_back(id);
  }
  return stops;
}

}  // namespace oap
