#include "oap/llm/generator.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "llm/model_test_util.hpp"
#include "oap/core/error.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/lora_weights.hpp"
#include "oap/llm/sampling.hpp"
#include "oap/llm/scorer.hpp"
#include "oap/llm/tokenizer.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

TEST(GenerationOptions, JsonRoundTripAndClearErrors) {
  GenerationOptions o;
  o.max_new_tokens = 9;
  o.temperature = 0.7;
  o.top_k = 40;
  o.top_p = 0.9;
  o.repetition_penalty = 1.1;
  o.seed = 12345678901234ULL;
  o.stop_token_ids = {2, 7};
  o.stop_at_eos = false;
  o.stop_strings = {"\n\n"};
  const nlohmann::json j = o;
  const auto back = j.get<GenerationOptions>();
  EXPECT_EQ(back.max_new_tokens, 9u);
  EXPECT_DOUBLE_EQ(back.temperature, 0.7);
  EXPECT_EQ(back.top_k, 40u);
  EXPECT_EQ(back.seed, 12345678901234ULL);
  EXPECT_EQ(back.stop_token_ids, (std::vector<std::int64_t>{2, 7}));
  EXPECT_FALSE(back.stop_at_eos);
  EXPECT_EQ(back.stop_strings, o.stop_strings);
  EXPECT_EQ(nlohmann::json(back), j);
  EXPECT_EQ(nlohmann::json::object().get<GenerationOptions>().max_new_tokens, 64u);
  const auto error = [](const nlohmann::json& bad) {
    try {
      bad.get<GenerationOptions>();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(error({{"temprature", 1.0}}), HasSubstr("generation: unknown key(s) \"temprature\""));
  EXPECT_THAT(error({{"top_p", 1.5}}), HasSubstr("generation.top_p: must be in (0, 1]"));
  EXPECT_THAT(error({{"temperature", -1}}), HasSubstr("generation.temperature: must be >= 0"));
  EXPECT_THAT(error({{"max_new_tokens", -3}}),
              HasSubstr("generation.max_new_tokens: expected a non-negative integer"));
  EXPECT_THAT(error({{"stop_strings", "x"}}), HasSubstr("generation.stop_strings"));
}

TEST(Sampling, GreedyAndRepetitionPenaltyFollowHfConvention) {
  auto logits = torch::tensor({1.0, 3.0, -2.0, 2.9}, torch::kDouble);
  GenerationOptions o;
  std::mt19937_64 rng(0);
  EXPECT_EQ(sample_next_token(logits, {}, o, rng), 1);
  o.repetition_penalty = 2.0;
  const std::int64_t hist[] = {1, 2};
  // 3.0 / 2 = 1.5 < 2.9, so token 3 wins; -2 * 2 = -4 for token 2.
  EXPECT_EQ(sample_next_token(logits, hist, o, rng), 3);
  o.temperature = 1.0;
  auto p = next_token_probabilities(logits, hist, o);
  const double z = std::exp(1.0) + std::exp(1.5) + std::exp(-4.0) + std::exp(2.9);
  EXPECT_NEAR(p[1].item<double>(), std::exp(1.5) / z, 1e-12);
  EXPECT_NEAR(p[2].item<double>(), std::exp(-4.0) / z, 1e-12);
}

TEST(Sampling, TopKAndTopPKeepTheRightSets) {
  // probabilities 0.5, 0.25, 0.15, 0.1 at temperature 1
  auto logits = torch::log(torch::tensor({0.25, 0.5, 0.1, 0.15}, torch::kDouble));
  GenerationOptions o;
  o.temperature = 1.0;
  o.top_k = 2;
  auto p = next_token_probabilities(logits, {}, o);
  EXPECT_NEAR(p[1].item<double>(), 0.5 / 0.75, 1e-9);
  EXPECT_NEAR(p[0].item<double>(), 0.25 / 0.75, 1e-9);
  EXPECT_EQ(p[2].item<double>(), 0.0);
  EXPECT_EQ(p[3].item<double>(), 0.0);
  o.top_k = 0;
  o.top_p = 0.8;  // 0.5 + 0.25 = 0.75 < 0.8, so 0.15 joins; 0.1 is out
  p = next_token_probabilities(logits, {}, o);
  EXPECT_NEAR(p[3].item<double>(), 0.15 / 0.9, 1e-9);
  EXPECT_EQ(p[2].item<double>(), 0.0);
  o.top_p = 0.3;  // only the most likely token
  p = next_token_probabilities(logits, {}, o);
  EXPECT_DOUBLE_EQ(p[1].item<double>(), 1.0);
  // Temperature sharpens: at T=0.5 probabilities go as p^2.
  o.top_p = 1.0;
  o.temperature = 0.5;
  p = next_token_probabilities(logits, {}, o);
  EXPECT_NEAR(p[1].item<double>(), 0.25 / (0.0625 + 0.25 + 0.01 + 0.0225), 1e-9);
}

TEST(Sampling, DrawsFollowTheDistribution) {
  auto logits = torch::log(torch::tensor({0.2, 0.5, 0.3}, torch::kDouble));
  GenerationOptions o;
  o.temperature = 1.0;
  std::mt19937_64 rng(7);
  int counts[3] = {0, 0, 0};
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[sample_next_token(logits, {}, o, rng)];
  EXPECT_NEAR(counts[0] / double(n), 0.2, 0.015);
  EXPECT_NEAR(counts[1] / double(n), 0.5, 0.015);
  EXPECT_NEAR(counts[2] / double(n), 0.3, 0.015);
}

class GeneratorTest : public ::testing::Test {
 protected:
  // The random model's vocabulary (1024) is larger than the trained tokenizer's; ids past the
  // tokenizer have no text.
  std::vector<std::int32_t> decodable(const std::vector<std::int32_t>& ids) const {
    std::vector<std::int32_t> out;
    for (auto id : ids) {
      if (id >= 0 && static_cast<std::size_t>(id) < tokenizer_->vocab_size()) out.push_back(id);
    }
    return out;
  }
  void SetUp() override {
    config_ = init_random_model(model_preset("tiny"), dir_.path(), {.seed = 4, .init_std = 0.1});
    model_ = CausalLM::load(dir_.path(), {.num_threads = 1});
    tokenizer_ = Tokenizer::load(dir_.path());
  }
  TempDir dir_;
  ModelConfig config_;
  std::shared_ptr<const CausalLM> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
};

TEST_F(GeneratorTest, GreedyEqualsArgmaxOfFullForward) {
  Generator gen(model_, tokenizer_);
  GenerationOptions o;
  o.max_new_tokens = 6;
  o.stop_at_eos = false;
  const std::vector<std::int32_t> prompt = {10, 20, 30};
  auto r = gen.generate(std::span<const std::int32_t>(prompt), o);
  ASSERT_EQ(r.tokens.size(), 6u);
  EXPECT_EQ(r.finish_reason, "length");
  // Recompute without the cache: each token is the argmax given everything before it.
  torch::NoGradGuard no_grad;
  std::vector<std::int64_t> seq(prompt.begin(), prompt.end());
  for (auto t : r.tokens) {
    auto logits = model_->forward(torch::tensor(seq, torch::kLong).unsqueeze(0));
    EXPECT_EQ(logits[0][-1].argmax().item<std::int64_t>(), t);
    seq.push_back(t);
  }
}

TEST_F(GeneratorTest, SameSeedSameOutputAndStreamingMatchesResult) {
  Generator gen(model_, tokenizer_);
  GenerationOptions o;
  o.max_new_tokens = 12;
  o.temperature = 1.2;
  o.top_k = 50;
  o.top_p = 0.95;
  o.seed = 99;
  o.stop_at_eos = false;
  std::vector<std::int32_t> streamed;
  std::string streamed_text;
  auto a = gen.generate("The quick brown fox", o, nullptr, [&](std::int32_t t, std::string_view s) {
    streamed.push_back(t);
    streamed_text += s;
    return true;
  });
  auto b = gen.generate("The quick brown fox", o);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(streamed, a.tokens);
  EXPECT_EQ(a.text, tokenizer_->decode(decodable(a.tokens), true));
  EXPECT_TRUE(a.text.starts_with(streamed_text));
  o.seed = 100;
  auto c = gen.generate("The quick brown fox", o);
  EXPECT_NE(c.tokens, a.tokens);  // 12 draws from a ~flat distribution over 1000 tokens
}

TEST_F(GeneratorTest, StopsAtStopTokenStringAndCallback) {
  Generator gen(model_, tokenizer_);
  GenerationOptions o;
  o.max_new_tokens = 8;
  o.stop_at_eos = false;
  const std::vector<std::int32_t> prompt = {5, 6, 7};
  auto free_run = gen.generate(std::span<const std::int32_t>(prompt), o);
  ASSERT_EQ(free_run.tokens.size(), 8u);
  // Stop at the third greedy token.
  o.stop_token_ids = {free_run.tokens[2]};
  auto r = gen.generate(std::span<const std::int32_t>(prompt), o);
  EXPECT_EQ(r.finish_reason, "stop_token");
  EXPECT_EQ(std::vector<std::int32_t>(free_run.tokens.begin(),
                                      free_run.tokens.begin() + static_cast<long>(r.tokens.size())),
            r.tokens);
  EXPECT_EQ(r.tokens.back(), free_run.tokens[2]);
  // Stop string: a piece of the free-running text.
  o.stop_token_ids.clear();
  if (free_run.text.size() >= 4) {
    o.stop_strings = {free_run.text.substr(free_run.text.size() / 2, 2)};
    auto s = gen.generate(std::span<const std::int32_t>(prompt), o);
    EXPECT_EQ(s.finish_reason, "stop_string");
    EXPECT_EQ(s.text.find(o.stop_strings[0]), std::string::npos);
    EXPECT_TRUE(free_run.text.starts_with(s.text));
  }
  o.stop_strings.clear();
  int calls = 0;
  auto cb = gen.generate(std::span<const std::int32_t>(prompt), o, nullptr,
                         [&](std::int32_t, std::string_view) { return ++calls < 3; });
  EXPECT_EQ(cb.finish_reason, "callback");
  EXPECT_EQ(cb.tokens.size(), 3u);
}

TEST_F(GeneratorTest, BatchRowsEqualEachPromptAloneWithItsOwnAdapter) {
  Generator gen(model_, tokenizer_);
  GenerationOptions o;
  o.max_new_tokens = 7;
  o.stop_at_eos = false;
  // Two adapters with non-zero B (a fresh one changes nothing), one row without.
  auto a = LoraWeights::create(config_, 4, 32.0, {LoraTarget::kQ, LoraTarget::kV}, false, 1);
  auto b = LoraWeights::create(config_, 8, 16.0, {LoraTarget::kV}, false, 2);
  for (auto* w : {&a, &b}) {
    torch::NoGradGuard no_grad;
    for (auto& p : w->parameters()) {
      if (p.abs().sum().item<double>() == 0) p.normal_(0, 0.5);
    }
  }
  const std::vector<std::vector<std::int32_t>> prompts = {{10, 20, 30}, {7}, {40, 41, 42, 43, 44}};
  const LoraWeights* rows[] = {&a, nullptr, &b};
  // Stop the second row early at its second greedy token: the others must continue unaffected.
  const auto alone1 = gen.generate(std::span<const std::int32_t>(prompts[1]), o);
  o.stop_token_ids = {alone1.tokens[1]};
  const auto batch = gen.generate_batch(prompts, o, rows);
  ASSERT_EQ(batch.size(), 3u);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto alone = gen.generate(std::span<const std::int32_t>(prompts[i]), o, rows[i]);
    EXPECT_EQ(batch[i].tokens, alone.tokens) << "row " << i;
    EXPECT_EQ(batch[i].text, alone.text) << "row " << i;
    EXPECT_EQ(batch[i].finish_reason, alone.finish_reason) << "row " << i;
  }
  EXPECT_EQ(batch[1].finish_reason, "stop_token");
  EXPECT_EQ(batch[1].tokens.size(), 2u);
  // The adapters matter: row 0 without its adapter continues differently.
  const auto plain = gen.generate(std::span<const std::int32_t>(prompts[0]), o);
  EXPECT_NE(plain.tokens, batch[0].tokens);
  // Sampling: each row draws from its own generator seeded with options.seed.
  o.temperature = 1.0;
  o.seed = 5;
  o.stop_token_ids.clear();
  const auto sampled = gen.generate_batch(prompts, o);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(sampled[i].tokens, gen.generate(std::span<const std::int32_t>(prompts[i]), o).tokens);
  }
  EXPECT_TRUE(gen.generate_batch({}, o).empty());
  const LoraWeights* two[] = {&a, &b};
  EXPECT_THROW(gen.generate_batch(prompts, o, two), InvalidArgument);
  EXPECT_THROW(gen.generate_batch({{1}, {}}, o), InvalidArgument);
}

TEST_F(GeneratorTest, RefusesBadOptions) {
  Generator gen(model_);
  GenerationOptions o;
  o.top_p = 0.0;
  const std::vector<std::int32_t> prompt = {1};
  try {
    gen.generate(std::span<const std::int32_t>(prompt), o);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("generation.top_p: must be in (0, 1]"));
  }
  try {
    gen.generate("text", GenerationOptions{});
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("needs a tokenizer"));
  }
}

TEST_F(GeneratorTest, ScoreMatchesLogSoftmaxAndBatchingIsTransparent) {
  const std::vector<std::vector<std::int32_t>> seqs = {
      {1, 2, 3, 4, 5}, {7, 8}, {9}, {100, 200, 300}};
  auto batched = score(*model_, seqs, {}, 4);
  auto single = score(*model_, seqs, {}, 1);
  ASSERT_EQ(batched.size(), 4u);
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    ASSERT_EQ(batched[i].logprobs.size(), seqs[i].size() - 1);
    std::vector<std::int64_t> s(seqs[i].begin(), seqs[i].end());
    auto lp = torch::log_softmax(
        model_->forward(torch::tensor(s, torch::kLong).unsqueeze(0)).to(torch::kDouble), -1);
    double nll = 0;
    for (std::size_t k = 1; k < s.size(); ++k) {
      const double expect = lp[0][static_cast<long>(k) - 1][s[k]].item<double>();
      EXPECT_NEAR(batched[i].logprobs[k - 1], expect, 1e-5);
      EXPECT_NEAR(single[i].logprobs[k - 1], expect, 1e-5);
      nll -= expect;
    }
    if (s.size() > 1) {
      EXPECT_NEAR(batched[i].mean_nll, nll / static_cast<double>(s.size() - 1), 1e-5);
      EXPECT_NEAR(batched[i].perplexity, std::exp(batched[i].mean_nll), 1e-9);
    }
  }
  EXPECT_EQ(batched[2].mean_nll, 0.0);
  // Per-sequence adapters: a zero-B adapter changes nothing.
  auto fresh = LoraWeights::create(config_, 2, 4.0, {LoraTarget::kQ}, false, 1);
  std::vector<const LoraWeights*> ad = {&fresh, nullptr, &fresh, nullptr};
  auto with = score(*model_, seqs, ad, 4);
  EXPECT_NEAR(with[0].mean_nll, batched[0].mean_nll, 1e-5);  // other kernels: rounding
}

}  // namespace
}  // namespace oap
