// The English base model shipped in examples/models/tiny-en (made by scripts/make_base_model.sh):
// it loads with the library, its tokenizer and config agree on BOS/EOS, it prefers English to
// the same words shuffled, and it continues a prompt with English words.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cctype>
#include <filesystem>
#include <set>
#include <sstream>

#include "oap/llm/causal_lm.hpp"
#include "oap/llm/generator.hpp"
#include "oap/llm/scorer.hpp"
#include "oap/llm/tokenizer.hpp"

namespace oap {
namespace {

std::filesystem::path tiny_en() {
  return std::filesystem::path(OAP_SOURCE_DIR) / "examples" / "models" / "tiny-en";
}

// Sentences written for this test (so held out of pretraining), and the same words in an
// order no English text has.
const std::vector<std::string> kEnglish = {
    "The old man walked slowly down the road to the little house by the river.",
    "She said that she would come back in the morning, but she never did.",
    "It was a cold night, and the wind was blowing through the trees.",
    "The government of the country is a republic with a president and a congress.",
};
const std::vector<std::string> kShuffled = {
    "road house walked The to by slowly river the old man down little the the.",
    "morning come never she in said would the back that but she, she did.",
    "the trees wind and through cold It a night was the, blowing was.",
    "president country of a republic The is and a congress government the with a.",
};

double mean_nll(const CausalLM& lm, const Tokenizer& tok, const std::vector<std::string>& texts) {
  std::vector<std::vector<std::int32_t>> seqs;
  for (const auto& t : texts) seqs.push_back(tok.encode(t, /*add_special=*/true));
  double nll = 0;
  std::size_t n = 0;
  for (const auto& s : score(lm, seqs)) {
    nll += s.mean_nll * static_cast<double>(s.logprobs.size());
    n += s.logprobs.size();
  }
  return nll / static_cast<double>(n);
}

TEST(ShippedBaseModel, LoadsWithBosFromTheTokenizer) {
  const auto lm = CausalLM::load(tiny_en(), {.num_threads = 1});
  const auto tok = Tokenizer::load(tiny_en());
  const auto& c = lm->config();
  EXPECT_EQ(c.vocab_size, 1024);
  EXPECT_EQ(tok->vocab_size(), 1024u);
  ASSERT_TRUE(c.bos_token_id.has_value());
  EXPECT_EQ(tok->bos_id(), static_cast<std::int32_t>(*c.bos_token_id));
  EXPECT_EQ(tok->token_to_id("<|endoftext|>"), static_cast<std::int32_t>(*c.bos_token_id));
  ASSERT_FALSE(c.eos_token_ids.empty());
  EXPECT_EQ(c.eos_token_ids.front(), *c.bos_token_id);
  // Texts start with BOS, as every document did in pretraining.
  const auto ids = tok->encode("The", /*add_special=*/true);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0], static_cast<std::int32_t>(*c.bos_token_id));
  EXPECT_EQ(tok->decode(std::span<const std::int32_t>(ids).subspan(1)), "The");
}

TEST(ShippedBaseModel, KnowsEnglishWordOrder) {
  const auto lm = CausalLM::load(tiny_en(), {.num_threads = 1});
  const auto tok = Tokenizer::load(tiny_en());
  const double english = mean_nll(*lm, *tok, kEnglish);
  const double shuffled = mean_nll(*lm, *tok, kShuffled);
  // The shipped model: 3.87 and 4.98; a random-weight one about ln(1024) = 6.93 on both.
  EXPECT_LT(english, 4.5) << "perplexity " << std::exp(english);
  EXPECT_GT(shuffled - english, 0.5) << "english " << english << ", shuffled " << shuffled;
}

TEST(ShippedBaseModel, ContinuesAPromptWithEnglishWords) {
  std::shared_ptr<const CausalLM> lm = CausalLM::load(tiny_en(), {.num_threads = 1});
  std::shared_ptr<const Tokenizer> tok = Tokenizer::load(tiny_en());
  Generator gen(lm, tok);
  GenerationOptions o;  // greedy
  o.max_new_tokens = 24;
  o.stop_at_eos = false;
  const auto r = gen.generate(std::string_view("The man said that"), o);
  ASSERT_EQ(r.tokens.size(), 24u);
  // At least a third of the words are among the most common English words (the shipped model:
  // 10 of 15; random weights with this tokenizer write word pieces, rarely whole words).
  const std::set<std::string> common = {"the", "of",  "and", "a",    "to",   "in",  "is",
                                        "was", "he",  "it",  "that", "for",  "as",  "with",
                                        "his", "on",  "be",  "at",   "by",   "not", "are",
                                        "had", "but", "she", "her",  "they", "you", "i"};
  std::istringstream words(r.text);
  std::string w;
  int total = 0, known = 0;
  while (words >> w) {
    std::string lower;
    for (unsigned char ch : w) {
      if (std::isalpha(ch) != 0) lower += static_cast<char>(std::tolower(ch));
    }
    ++total;
    known += common.count(lower) > 0 ? 1 : 0;
  }
  EXPECT_GE(total, 5) << r.text;
  EXPECT_GE(3 * known, total) << r.text;
}

}  // namespace
}  // namespace oap
