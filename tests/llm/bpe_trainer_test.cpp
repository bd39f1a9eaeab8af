// write_byte_level_bpe_tokenizer: merges worked out by hand on a tiny corpus, read back by our
// own loader.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "oap/core/error.hpp"
#include "oap/core/json_config.hpp"
#include "oap/llm/tokenizer.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using Ids = std::vector<std::int32_t>;

TEST(BpeTrainer, LearnsTheMostFrequentPairsFirst) {
  testing::TempDir dir;
  // Words (Llama-3 regex): "ab" x1, " ab" x2, " cd" x1. Pair counts: (a,b)=3, (Ġ,a)=2, (Ġ,c)=1,
  // (c,d)=1. Merges: a+b; then Ġ+ab (2); then the tie (Ġ,c)/(c,d) goes to the smaller ids
  // (32,99); then Ġc+d. Nothing is left after that, so training stops below vocab_size.
  write_byte_level_bpe_tokenizer({"ab ab ab cd"}, 300, {"<|endoftext|>"}, dir / "tokenizer.json");
  auto j = load_json_file(dir / "tokenizer.json");
  EXPECT_EQ(j["model"]["merges"],
            nlohmann::json::parse(R"([["a","b"],["Ġ","ab"],["Ġ","c"],["Ġc","d"]])"));
  EXPECT_EQ(j["model"]["vocab"]["Ġcd"], 259);
  EXPECT_EQ(j["added_tokens"][0]["id"], 260);
  auto tok = Tokenizer::from_json_file(dir / "tokenizer.json");
  EXPECT_EQ(tok->vocab_size(), 261u);
  EXPECT_EQ(tok->encode("ab ab cd<|endoftext|>"), (Ids{256, 257, 259, 260}));
  EXPECT_EQ(tok->encode(" c"), (Ids{258}));
  EXPECT_EQ(tok->eos_id(), std::optional<std::int32_t>(260));
  EXPECT_FALSE(tok->bos_id().has_value());
}

TEST(BpeTrainer, StopsAtVocabSize) {
  testing::TempDir dir;
  write_byte_level_bpe_tokenizer({"ab ab ab cd"}, 259, {"<|endoftext|>"}, dir / "t.json");
  auto tok = Tokenizer::from_json_file(dir / "t.json");
  EXPECT_EQ(tok->vocab_size(), 259u);
  EXPECT_EQ(tok->encode(" ab cd"), (Ids{257, ' ', 'c', 'd'}));
}

TEST(BpeTrainer, SpecialTokensInTheCorpusAreNotLearnedFrom) {
  testing::TempDir dir;
  write_byte_level_bpe_tokenizer({"<|x|><|x|><|x|>zz"}, 300, {"<|x|>"}, dir / "t.json");
  auto j = load_json_file(dir / "t.json");
  // Only "zz" remains once the special tokens are cut out: one merge, z+z.
  EXPECT_EQ(j["model"]["merges"], nlohmann::json::parse(R"([["z","z"]])"));
}

std::vector<std::string> random_corpus(std::uint32_t seed, int docs) {
  const std::vector<std::string> words = {
      "the",   "user",    "changed",          "topic",
      "to",    "physics", "caf\xC3\xA9",      "\xE4\xBD\xA0\xE5\xA5\xBD",
      "don't", "2024",    "\xF0\x9F\x98\x80", "adapter",
      "  ",    "\n"};
  std::mt19937 rng(seed);
  std::vector<std::string> corpus;
  for (int d = 0; d < docs; ++d) {
    std::string doc;
    for (int i = 0; i < 30; ++i) doc += words[rng() % words.size()] + (rng() % 3 ? " " : ", ");
    corpus.push_back(doc);
  }
  return corpus;
}

TEST(BpeTrainer, DeterministicAndRoundTrips) {
  testing::TempDir dir;
  auto corpus = random_corpus(11, 200);
  const std::vector<std::string> specials = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  write_byte_level_bpe_tokenizer(corpus, 320, specials, dir / "a.json");
  write_byte_level_bpe_tokenizer(corpus, 320, specials, dir / "b.json");
  EXPECT_EQ(testing::read_file(dir / "a.json"), testing::read_file(dir / "b.json"));
  // Nothing but the two outputs in the directory: temp files were renamed away.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            2);

  auto tok = Tokenizer::from_json_file(dir / "a.json");
  // The corpus has enough distinct pairs to fill the vocabulary; specials take the last ids.
  EXPECT_EQ(tok->vocab_size(), 320u);
  EXPECT_EQ(tok->token_to_id("<|im_end|>"), std::optional<std::int32_t>(319));
  std::size_t bytes = 0, tokens = 0;
  for (const auto& doc : random_corpus(12, 20)) {
    std::string text = "<|im_start|>" + doc + "<|im_end|>";
    auto ids = tok->encode(text);
    ASSERT_EQ(tok->decode(ids), text);
    EXPECT_EQ(ids.front(), 318);
    bytes += text.size();
    tokens += ids.size();
  }
  // The learned merges compress text like the training corpus several-fold.
  EXPECT_LT(tokens * 3, bytes);
}

TEST(BpeTrainer, Errors) {
  testing::TempDir dir;
  EXPECT_THAT(
      [&] {
        write_byte_level_bpe_tokenizer({"a"}, 257, {"<a>", "<b>"}, dir / "t.json");
      },
      ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("vocab_size 257 is below 256")));
  EXPECT_THAT(
      [&] {
        write_byte_level_bpe_tokenizer({"a"}, 300, {"<a>", "<a>"}, dir / "t.json");
      },
      ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("\"<a>\" given twice")));
  EXPECT_THAT([&] { write_byte_level_bpe_tokenizer({"a"}, 300, {}, dir / "no" / "t.json"); },
              ::testing::ThrowsMessage<IoError>(HasSubstr("cannot create")));
}

}  // namespace
}  // namespace oap
