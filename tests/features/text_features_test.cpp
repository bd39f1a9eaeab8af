#include "oap/features/text_features.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "llm/model_test_util.hpp"
#include "oap/core/error.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/lora_weights.hpp"
#include "oap/llm/scorer.hpp"
#include "oap/llm/tokenizer.hpp"

namespace oap {
namespace {

class TextFeaturesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init_random_model(model_preset("tiny"), dir_.path(), {.seed = 6, .init_std = 0.1});
    model_ = CausalLM::load(dir_.path(), {.num_threads = 1});
    tokenizer_ = Tokenizer::load(dir_.path());
    adapter_ =
        LoraWeights::create(model_->config(), 4, 16.0, {LoraTarget::kQ, LoraTarget::kV}, false, 2);
    torch::NoGradGuard no_grad;
    for (auto& p : adapter_.parameters()) p.normal_(0, 0.3);  // B != 0: it changes the model
  }
  testing::TempDir dir_;
  std::shared_ptr<const CausalLM> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  LoraWeights adapter_;
};

// The extractor scores the base model and the adapter as one batch of two rows; score() below
// takes one row at a time. Same math, other reduction order: float32 rounding, a few ulps of a
// mean NLL near 7 (1e-6 was too tight on a CI machine with other BLAS kernels).
constexpr double kBatchTol = 1e-5;

TEST_F(TextFeaturesTest, SurpriseAndNllAreTheTextsMeanNllUnderTheBaseModelAndTheAdapter) {
  TextFeatureExtractor x(model_, tokenizer_);
  ASSERT_EQ(x.dim(), 5u);
  const std::string text = "the user wrote something rather different today";
  const auto f = x.extract(text, &adapter_);
  ASSERT_EQ(f.values.size(), 5u);
  EXPECT_EQ(f.tokens, tokenizer_->encode(text, true));
  const LoraWeights* one[] = {&adapter_};
  const double under_adapter = score(*model_, {f.tokens}, one)[0].mean_nll;
  const double under_base = score(*model_, {f.tokens})[0].mean_nll;
  EXPECT_GT(std::abs(under_base - under_adapter), 1e-3);  // the adapter matters
  // The feature: under the base model by default (stationary across the user's updates).
  EXPECT_NEAR(f.surprise, under_base, kBatchTol);
  EXPECT_DOUBLE_EQ(f.values[0], f.surprise);
  // The NLL under the user's adapter, for reports and the rollback check.
  EXPECT_NEAR(f.nll, under_adapter, kBatchTol);
  const auto no_adapter = x.extract(text, nullptr);
  EXPECT_NEAR(no_adapter.nll, under_base, kBatchTol);
  // The features do not depend on the adapter (up to rounding: a batch of two rows).
  ASSERT_EQ(no_adapter.values.size(), f.values.size());
  for (std::size_t i = 0; i < f.values.size(); ++i) {
    EXPECT_NEAR(no_adapter.values[i], f.values[i], 1e-4 * (1 + std::abs(f.values[i]))) << i;
  }
  TextFeatureOptions o;
  o.surprise_under_adapter = true;
  EXPECT_NEAR(TextFeatureExtractor(model_, tokenizer_, o).extract(text, &adapter_).surprise,
              under_adapter, kBatchTol);
}

TEST_F(TextFeaturesTest, TheEmbeddingIsTheBaseModelsAndFixedBySeed) {
  TextFeatureExtractor x(model_, tokenizer_);
  const auto a = x.extract("cats and dogs", &adapter_);
  const auto b = x.extract("cats and dogs", nullptr);
  // Same text, any adapter: the same point (the embedding uses the base model).
  for (std::size_t i = 1; i < 5; ++i) EXPECT_NEAR(a.values[i], b.values[i], 1e-5) << i;
  const auto c = x.extract("quarterly revenue grew by four percent", nullptr);
  double diff = 0;
  for (std::size_t i = 1; i < 5; ++i) diff += std::abs(c.values[i] - b.values[i]);
  EXPECT_GT(diff, 1e-3);
  // A second extractor with the same seed gives the same values; another seed others.
  EXPECT_EQ(TextFeatureExtractor(model_, tokenizer_).extract("cats and dogs", nullptr).values,
            b.values);
  TextFeatureOptions o;
  o.projection_seed = 9;
  EXPECT_NE(TextFeatureExtractor(model_, tokenizer_, o).extract("cats and dogs", nullptr).values,
            b.values);
  // The projection is the documented one: mean-pooled hidden states times N(0, 1/k) entries;
  // its output scale follows (a wrong k or no pooling gives values orders of magnitude off).
  torch::NoGradGuard no_grad;
  const auto ids = tokenizer_->encode("cats and dogs", true);
  const auto h = model_->hidden_states(
      torch::tensor(std::vector<std::int64_t>(ids.begin(), ids.end())).unsqueeze(0));
  const double norm = h[0].mean(0).norm().item<double>();
  double sq = 0;
  for (std::size_t i = 1; i < 5; ++i) sq += b.values[i] * b.values[i];
  EXPECT_GT(std::sqrt(sq), 0.2 * norm);
  EXPECT_LT(std::sqrt(sq), 5.0 * norm);
}

TEST_F(TextFeaturesTest, OptionsChooseTheSignals) {
  TextFeatureOptions o;
  o.surprise = false;
  o.embedding_dim = 2;
  const auto f = TextFeatureExtractor(model_, tokenizer_, o).extract("hello there", &adapter_);
  EXPECT_EQ(f.values.size(), 2u);
  o.surprise = true;
  o.embedding_dim = 0;
  const auto s = TextFeatureExtractor(model_, tokenizer_, o).extract("hello there", &adapter_);
  ASSERT_EQ(s.values.size(), 1u);
  EXPECT_DOUBLE_EQ(s.values[0], s.surprise);
  o.surprise = false;
  const auto none = TextFeatureExtractor(model_, tokenizer_, o).extract("hello there", &adapter_);
  EXPECT_TRUE(none.values.empty());
  EXPECT_GT(none.nll, 0.0);  // the NLL is computed whatever the features
  EXPECT_THROW(TextFeatureExtractor(model_, tokenizer_).extract("", nullptr), InvalidArgument);
  nlohmann::json j = {{"embedding_dim", 3}, {"surprise", false}};
  const auto back = j.get<TextFeatureOptions>();
  EXPECT_EQ(back.embedding_dim, 3u);
  EXPECT_FALSE(back.surprise);
  EXPECT_THROW((void)nlohmann::json({{"max_tokens", 1}}).get<TextFeatureOptions>(), ConfigError);
  EXPECT_THROW((void)nlohmann::json({{"embeding_dim", 3}}).get<TextFeatureOptions>(), ConfigError);
}

TEST_F(TextFeaturesTest, LongTextsKeepTheirLastTokens) {
  TextFeatureOptions o;
  o.max_tokens = 8;
  o.embedding_dim = 0;
  o.surprise = true;
  std::string text;
  for (int i = 0; i < 40; ++i) text += "word" + std::to_string(i) + " ";
  const auto f = TextFeatureExtractor(model_, tokenizer_, o).extract(text, nullptr);
  const auto ids = tokenizer_->encode(text, true);
  const std::vector<std::int32_t> last(ids.end() - 8, ids.end());
  EXPECT_NEAR(f.surprise, score(*model_, {last})[0].mean_nll, kBatchTol);
}

}  // namespace
}  // namespace oap
