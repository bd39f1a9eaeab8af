// SentencePiece models trained here, on a generated corpus, with SentencePiece's own trainer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <random>

#include "oap/core/error.hpp"
#include "oap/llm/tokenizer.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using Ids = std::vector<std::int32_t>;

class SentencePieceTokenizerTest : public ::testing::Test {
 protected:
  // Trains one BPE model (byte_fallback on, no normalization, so decode inverts encode) once
  // for the whole suite.
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const std::vector<std::string> words = {"user",    "topic",       "changed", "physics",
                                            "adapter", "caf\xC3\xA9", "model",   "the",
                                            "a",       "quickly"};
    std::mt19937 rng(3);
    std::string corpus;
    for (int line = 0; line < 2000; ++line) {
      for (int i = 0; i < 12; ++i) corpus += (i ? " " : "") + words[rng() % words.size()];
      corpus += "\n";
    }
    testing::write_file(*dir_ / "corpus.txt", corpus);
    auto status = sentencepiece::SentencePieceTrainer::Train(
        "--input=" + (*dir_ / "corpus.txt").string() +
        " --model_prefix=" + (*dir_ / "tokenizer").string() +
        " --vocab_size=300 --model_type=bpe --character_coverage=1.0 --byte_fallback=true"
        " --normalization_rule_name=identity --remove_extra_whitespaces=false"
        " --minloglevel=2");
    ASSERT_TRUE(status.ok()) << status.ToString();
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::filesystem::path model() { return *dir_ / "tokenizer.model"; }

  static testing::TempDir* dir_;
};

testing::TempDir* SentencePieceTokenizerTest::dir_ = nullptr;

TEST_F(SentencePieceTokenizerTest, MatchesTheLibraryAndRoundTrips) {
  auto tok = Tokenizer::from_sentencepiece_file(model());
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(model().string()).ok());
  for (std::string text : {"the user changed topic", "caf\xC3\xA9 model  quickly", "zebra!",
                           "\xF0\x9F\x98\x80 \xE4\xBD\xA0"}) {
    auto ids = tok->encode(text);
    std::vector<int> expected = sp.EncodeAsIds(text);
    EXPECT_EQ(ids, Ids(expected.begin(), expected.end())) << text;
    // byte_fallback: characters never seen in training come back byte for byte.
    EXPECT_EQ(tok->decode(ids), text);
  }
  EXPECT_EQ(tok->vocab_size(), 300u);
}

TEST_F(SentencePieceTokenizerTest, SpecialTokens) {
  // SentencePiece's defaults: <unk>=0, <s>=1, </s>=2.
  auto tok = Tokenizer::load(model().parent_path());
  EXPECT_EQ(tok->bos_id(), std::optional<std::int32_t>(1));
  EXPECT_EQ(tok->eos_id(), std::optional<std::int32_t>(2));
  EXPECT_EQ(tok->token_to_id("<s>"), std::optional<std::int32_t>(1));
  EXPECT_EQ(tok->token_to_id("<unk>"), std::optional<std::int32_t>(0));
  EXPECT_FALSE(tok->token_to_id("no such piece").has_value());
  Ids ids = tok->encode("the user", /*add_special=*/true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), 1);
  ids.push_back(2);
  EXPECT_EQ(tok->decode(ids), "<s>the user</s>");
  EXPECT_EQ(tok->decode(ids, /*skip_special=*/true), "the user");
}

TEST_F(SentencePieceTokenizerTest, InvalidUtf8DoesNotCrash) {
  auto tok = Tokenizer::from_sentencepiece_file(model());
  auto ids = tok->encode("user \xFF\xC3 model");
  EXPECT_FALSE(ids.empty());
  std::string back = tok->decode(ids);
  EXPECT_THAT(back, HasSubstr("user"));
  EXPECT_THAT(back, HasSubstr("model"));
}

TEST_F(SentencePieceTokenizerTest, Errors) {
  auto tok = Tokenizer::from_sentencepiece_file(model());
  EXPECT_THAT(
      [&] {
        tok->decode(Ids{5, 300});
      },
      ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("token id 300 is not in")));
  EXPECT_THAT([&] { Tokenizer::from_sentencepiece_file(model().parent_path() / "none.model"); },
              ::testing::ThrowsMessage<IoError>(HasSubstr("does not exist")));
}

}  // namespace
}  // namespace oap
