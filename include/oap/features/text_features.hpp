#pragma once
// TextFeatureExtractor: numeric signals from an event's text, computed with the loaded model.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string_view>
#include <vector>

namespace oap {

class CausalLM;
class LoraWeights;
class Tokenizer;

// Which text signals are computed. Plain value type; JSON section "text_features".
struct TextFeatureOptions {
  // The text's surprise: its mean negative log-likelihood (nats per token). Default: true.
  bool surprise = true;
  // Which model the surprise feature is measured under: false, the base model; true, the
  // user's current adapter. Default: false. Why: a detector learns each user's usual level of
  // the feature, and under the user's adapter that level drops with every accepted update (the
  // adapter learns the user's text), so the detector flags the user's ordinary text right after
  // each update and the policy answers its own updates (seen in tests: a profile update made
  // the next normal events look like a shift). Under the base model the feature is stationary
  // for a user who does not change; the NLL under the adapter is still computed
  // (TextFeatures::nll) for reports and the rollback check.
  bool surprise_under_adapter = false;
  // The text's position in a k-dimensional space: the base model's final hidden states,
  // mean-pooled over the text's tokens, times a fixed Gaussian projection [H, k] (entries
  // N(0, 1/k), seeded), so the same text always lands at the same point whatever the user's
  // adapter. 0: none. Default: 4.
  std::size_t embedding_dim = 4;
  // Seed of the projection. Default: 0.
  std::uint64_t projection_seed = 0;
  // Tokens of a text the model reads (the last ones). Default: 256. Requires >= 2.
  std::size_t max_tokens = 256;

  // Throws ConfigError naming the field.
  void validate() const;
};

void to_json(nlohmann::json& j, const TextFeatureOptions& o);
// Reads the fields present (others keep their defaults); unknown keys are an error.
void from_json(const nlohmann::json& j, TextFeatureOptions& o);

// The text signals of one text.
struct TextFeatures {
  std::vector<std::int32_t> tokens;  // the text's ids (the tokenizer's special tokens included)
  double surprise = 0.0;  // the surprise feature (see surprise_under_adapter; 0 when off)
  double nll = 0.0;       // mean NLL under the adapter given to extract() (the base model if none)
  std::vector<double> values;  // [surprise?] + embedding: what is appended to features
};

// Turns a text into its signals (TextFeatureOptions) with one batched forward pass: the text
// under the user's adapter (its NLL) and under the base model (surprise and embedding).
// Thread safety: const; extract() may run concurrently. Ownership: shares the model and the
// tokenizer.
class TextFeatureExtractor {
 public:
  TextFeatureExtractor(std::shared_ptr<const CausalLM> model,
                       std::shared_ptr<const Tokenizer> tokenizer, TextFeatureOptions options = {});

  // Number of values extract() returns: surprise (0 or 1) + embedding_dim.
  std::size_t dim() const;
  // The signals of text (non-empty) for a user with adapter (nullptr: none). A text of one
  // token is read after the model's BOS token (or, without one, its NLL is log(V), as under a
  // uniform guess). Throws InvalidArgument for an empty text.
  TextFeatures extract(std::string_view text, const LoraWeights* adapter) const;

  const TextFeatureOptions& options() const { return options_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  std::shared_ptr<const CausalLM> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  TextFeatureOptions options_;
  std::vector<float> projection_;  // [H, embedding_dim], row-major
};

}  // namespace oap
