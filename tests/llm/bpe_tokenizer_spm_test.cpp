// BpeTokenizer on a hand-made SentencePiece-style tokenizer.json (tests/llm/data/
// tokenizer_spm_tiny, laid out as Llama-2's: Prepend + Replace normalizer, no pre-tokenizer,
// byte_fallback BPE over characters, Replace/ByteFallback/Fuse/Strip decoder, <s> template) and
// variants of it. Expected ids were computed with Hugging Face tokenizers 0.23 (its Node binding)
// on the same files, so these tests pin the behaviour without npm.
//
// Ids: <unk>=0 <s>=1 </s>=2, <0xNN>=3+NN, ▁=259 a=260 b=261 c=262 h=263 e=264 l=265 o=266
// w=267 r=268 d=269 é=270 你=271; merges (ranks 0..10) give ▁h=272 ll=273 ▁he=274 llo=275
// ▁hello=276 ▁w=277 or=278 ▁wor=279 ld=280 ▁world=281 ▁▁=282.
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

#define U2581 "\xE2\x96\x81"

const std::filesystem::path kSpm =
    std::filesystem::path(OAP_TOKENIZER_TEST_DATA) / "tokenizer_spm_tiny";

constexpr std::int32_t byte_id(int b) { return 3 + b; }

// Writes j (and, unless null, config) to dir and loads them.
std::unique_ptr<Tokenizer> load_variant(const testing::TempDir& dir, const nlohmann::json& j,
                                        const nlohmann::json& config = nullptr) {
  testing::write_file(dir / "tokenizer.json", j.dump());
  if (!config.is_null()) testing::write_file(dir / "tokenizer_config.json", config.dump());
  return Tokenizer::from_json_file(dir / "tokenizer.json");
}

TEST(BpeTokenizerSpm, EncodesAsTokenizersDoes) {
  auto tok = Tokenizer::load(kSpm);
  EXPECT_EQ(tok->vocab_size(), 283u);
  EXPECT_EQ(tok->encode("hello world"), (Ids{276, 281}));
  EXPECT_EQ(tok->encode(" hello"), (Ids{259, 276}));  // "▁▁hello": Prepend always adds one
  EXPECT_EQ(tok->encode("hello  world"), (Ids{276, 259, 281}));
  EXPECT_EQ(tok->encode(""), (Ids{}));
  EXPECT_EQ(tok->encode(" "), (Ids{282}));
  // é and 你 are characters of the vocabulary; 好 and ! are not: their UTF-8 bytes.
  EXPECT_EQ(
      tok->encode("h\xC3\xA9llo \xE4\xBD\xA0\xE5\xA5\xBD!"),
      (Ids{272, 270, 275, 259, 271, byte_id(0xE5), byte_id(0xA5), byte_id(0xBD), byte_id('!')}));
  EXPECT_EQ(tok->encode("a\xF0\x9F\x98\x80"
                        "b"),
            (Ids{259, 260, byte_id(0xF0), byte_id(0x9F), byte_id(0x98), byte_id(0x80), 261}));
  EXPECT_EQ(tok->encode("xyz"), (Ids{259, byte_id('x'), byte_id('y'), byte_id('z')}));
}

TEST(BpeTokenizerSpm, SpecialTokensAndTemplate) {
  auto tok = Tokenizer::load(kSpm);
  EXPECT_EQ(tok->bos_id(), std::optional<std::int32_t>(1));
  EXPECT_EQ(tok->eos_id(), std::optional<std::int32_t>(2));
  EXPECT_EQ(tok->token_to_id(U2581 "hello"), std::optional<std::int32_t>(276));
  EXPECT_EQ(tok->token_to_id("<0x0A>"), std::optional<std::int32_t>(byte_id(10)));
  EXPECT_EQ(tok->encode("", true), (Ids{1}));
  EXPECT_EQ(tok->encode("hello world", true), (Ids{1, 276, 281}));
  // The normalizer runs on each piece between added tokens, so "▁" is prepended after </s> too.
  EXPECT_EQ(tok->encode("<s>hello</s> world"), (Ids{1, 276, 2, 259, 281}));
  EXPECT_EQ(tok->encode("<s>hello</s> world", true), (Ids{1, 1, 276, 2, 259, 281}));
}

TEST(BpeTokenizerSpm, DecodesAsTokenizersDoes) {
  auto tok = Tokenizer::load(kSpm);
  EXPECT_EQ(tok->decode(Ids{276, 281}), "hello world");
  EXPECT_EQ(tok->decode(Ids{259, 276}), " hello");
  EXPECT_EQ(tok->decode(Ids{259, 259, 276}), "  hello");
  EXPECT_EQ(tok->decode(Ids{byte_id(0xE4), byte_id(0xBD), byte_id(0xA0)}), "\xE4\xBD\xA0");
  EXPECT_EQ(tok->decode(Ids{1, 276, 2, 259, 281}), "<s> hello</s>  world");
  // Special tokens are left out before the decoder runs, so Strip takes the space of "▁hello".
  EXPECT_EQ(tok->decode(Ids{1, 276, 2, 259, 281}, /*skip_special=*/true), "hello  world");
  EXPECT_EQ(tok->decode(Ids{1, 276, 2}, true), "hello");
  // Deliberate difference: tokenizers gives "\uFFFD\uFFFD" and "hello\uFFFD world" here.
  EXPECT_EQ(tok->decode(Ids{byte_id(0xE4), byte_id(0xBD)}), "\xE4\xBD");
  EXPECT_EQ(tok->decode(Ids{276, byte_id(0xFF), 281}), "hello\xFF world");
  EXPECT_THAT([&] { tok->decode(Ids{283}); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("token id 283 is not in")));
}

TEST(BpeTokenizerSpm, InvalidUtf8BecomesByteTokensAndRoundTrips) {
  // Hugging Face takes only valid UTF-8 (Rust String); here each invalid byte becomes its
  // <0xNN> token, so nothing is lost.
  auto tok = Tokenizer::load(kSpm);
  EXPECT_EQ(tok->encode("a\xFF"
                        "b"),
            (Ids{259, 260, byte_id(0xFF), 261}));
  EXPECT_EQ(tok->encode("\xE4\xBD"), (Ids{259, byte_id(0xE4), byte_id(0xBD)}));
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    std::string text(rng() % 24, '\0');
    for (auto& ch : text) ch = static_cast<char>(rng() % 256);
    // The decoder strips the one leading space that the normalizer's "▁" stands for.
    ASSERT_EQ(tok->decode(tok->encode(text)), text) << "round " << round;
  }
}

TEST(BpeTokenizerSpm, UnknownCharactersWithoutByteFallback) {
  testing::TempDir dir;
  auto j = load_json_file(kSpm / "tokenizer.json");
  j["model"]["byte_fallback"] = false;
  auto tok = load_variant(dir, j);
  // tokenizers 0.23: consecutive unknown characters fuse into one <unk> (fuse_unk).
  EXPECT_EQ(tok->encode("axyzb"), (Ids{259, 260, 0, 261}));
  j["model"]["fuse_unk"] = false;
  tok = load_variant(dir, j);
  EXPECT_EQ(tok->encode("axyzb"), (Ids{259, 260, 0, 0, 0, 261}));
  j["model"]["unk_token"] = nullptr;
  tok = load_variant(dir, j);
  EXPECT_THAT([&] { tok->encode("ax"); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("character \"x\" has no token")));
}

TEST(BpeTokenizerSpm, MissingByteTokensFallBackToUnk) {
  testing::TempDir dir;
  auto j = load_json_file(kSpm / "tokenizer.json");
  j["model"]["vocab"].erase("<0xF0>");
  auto tok = load_variant(dir, j);
  // A character is byte-encoded only if all its bytes have tokens (tokenizers 0.23).
  EXPECT_EQ(tok->encode("\xF0\x9D\x94\xB8"
                        "a"),
            (Ids{259, 0, 260}));
  // A pending <unk> is written only when a vocabulary character (or the end) comes, so fallback
  // bytes that follow it go first: tokenizers' order, kept for exact ids.
  EXPECT_EQ(tok->encode("\xF0\x9D\x94\xB8\xF0\x9D\x94\xB9x"), (Ids{259, byte_id('x'), 0}));
  EXPECT_EQ(tok->encode("\xF0\x9D\x94\xB8"
                        "z"),
            (Ids{259, byte_id('z'), 0}));
}

TEST(BpeTokenizerSpm, NormalizedAddedTokensMatchNormalizedText) {
  // tokenizers normalizes a normalized: true token's content (Prepend included) and finds it in
  // normalized text: "q z" becomes "▁q▁z", so it matches "q z" at the start but not in "xq z".
  testing::TempDir dir;
  auto j = load_json_file(kSpm / "tokenizer.json");
  j["added_tokens"].push_back({{"id", 283},
                               {"content", "q z"},
                               {"single_word", false},
                               {"lstrip", false},
                               {"rstrip", false},
                               {"normalized", true},
                               {"special", false}});
  j["added_tokens"].push_back({{"id", 284},
                               {"content", "k w"},
                               {"single_word", false},
                               {"lstrip", false},
                               {"rstrip", false},
                               {"normalized", false},
                               {"special", false}});
  auto tok = load_variant(dir, j);
  EXPECT_EQ(tok->encode("q z"), (Ids{283}));
  EXPECT_EQ(tok->encode("k w"), (Ids{284}));
  EXPECT_EQ(tok->encode("ck w"), (Ids{259, 262, 284}));
  EXPECT_EQ(tok->encode("xq z"), (Ids{259, byte_id('x'), byte_id('q'), 259, byte_id('z')}));
  EXPECT_EQ(tok->token_to_id("q z"), std::optional<std::int32_t>(283));
  // Decoding shows the normalized content through the decoder.
  EXPECT_EQ(tok->decode(Ids{283, 283}), "q z q z");
  EXPECT_EQ(tok->decode(Ids{284, 276}), "k w hello");
}

TEST(BpeTokenizerSpm, MetaspacePreTokenizerForm) {
  // The non-legacy conversion: no normalizer, Metaspace(prepend_scheme "first", split false).
  testing::TempDir dir;
  auto j = load_json_file(kSpm / "tokenizer.json");
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {
      {"type", "Metaspace"}, {"replacement", U2581}, {"prepend_scheme", "first"}, {"split", false}};
  auto tok = load_variant(dir, j);
  EXPECT_EQ(tok->encode("hello world"), (Ids{276, 281}));
  EXPECT_EQ(tok->encode(" hello"), (Ids{276}));  // already starts with "▁": none added
  // Nothing is prepended after an added token.
  EXPECT_EQ(tok->encode("<s>hello"), (Ids{1, 263, 264, 275}));
  EXPECT_EQ(tok->encode("hello<s>hello"), (Ids{276, 1, 263, 264, 275}));
}

TEST(BpeTokenizerSpm, AddBosAndAddEosFromTokenizerConfig) {
  testing::TempDir dir;
  auto j = load_json_file(kSpm / "tokenizer.json");
  auto config = load_json_file(kSpm / "tokenizer_config.json");
  config["add_eos_token"] = true;
  EXPECT_EQ(load_variant(dir, j, config)->encode("hello", true), (Ids{1, 276, 2}));
  config["add_bos_token"] = false;
  EXPECT_EQ(load_variant(dir, j, config)->encode("hello", true), (Ids{276, 2}));
  config.erase("add_bos_token");
  config.erase("add_eos_token");
  EXPECT_EQ(load_variant(dir, j, config)->encode("hello", true), (Ids{1, 276}));  // the template
  config["add_eos_token"] = true;
  config["eos_token"] = nullptr;
  EXPECT_THAT([&] { load_variant(dir, j, config); },
              ::testing::ThrowsMessage<ParseError>(HasSubstr("add_eos_token")));
  config["eos_token"] = "</s>";
  config["add_eos_token"] = "yes";
  EXPECT_THAT([&] { load_variant(dir, j, config); },
              ::testing::ThrowsMessage<ParseError>(HasSubstr("expected a boolean")));
}

TEST(BpeTokenizerSpm, LegacyFlagChangesNothing) {
  // transformers' fast tokenizer uses tokenizer.json as it is whatever legacy says (legacy only
  // matters when converting from tokenizer.model); transformers.js would switch to Metaspace.
  testing::TempDir dir;
  auto j = load_json_file(kSpm / "tokenizer.json");
  auto config = load_json_file(kSpm / "tokenizer_config.json");
  config["legacy"] = false;
  auto tok = load_variant(dir, j, config);
  EXPECT_EQ(tok->encode("<s>hello</s> world"), (Ids{1, 276, 2, 259, 281}));
}

}  // namespace
}  // namespace oap
