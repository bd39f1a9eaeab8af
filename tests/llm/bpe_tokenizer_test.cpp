// BpeTokenizer on the hand-made fixture tests/llm/data/tokenizer_tiny (see its README.md for the
// ids), and variants of it written to a temp dir. Expected ids are worked out by hand from the
// merge ranks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "oap/core/error.hpp"
#include "oap/core/json_config.hpp"
#include "oap/llm/tokenizer.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Ids = std::vector<std::int32_t>;

const std::filesystem::path kTiny =
    std::filesystem::path(OAP_TOKENIZER_TEST_DATA) / "tokenizer_tiny";

nlohmann::json tiny_json() { return load_json_file(kTiny / "tokenizer.json"); }

std::unique_ptr<Tokenizer> load_variant(const testing::TempDir& dir, const nlohmann::json& j) {
  testing::write_file(dir / "tokenizer.json", j.dump());
  return Tokenizer::from_json_file(dir / "tokenizer.json");
}

TEST(BpeTokenizer, MergesByRank) {
  auto tok = Tokenizer::load(kTiny);
  EXPECT_EQ(tok->encode("hello world"), (Ids{259, 264}));
  // (h,e) has rank 0 and (e,l) rank 9: "hel" is he + l, not h + el.
  EXPECT_EQ(tok->encode("hel"), (Ids{256, 'l'}));
  // Equal ranks merge leftmost first.
  EXPECT_EQ(tok->encode("lll"), (Ids{257, 'l'}));
  EXPECT_EQ(tok->encode("el"), (Ids{265}));
  // GPT-2's regex: "  " before a word leaves one space alone.
  EXPECT_EQ(tok->encode("a  b"), (Ids{'a', ' ', ' ', 'b'}));
  // Bytes of a two-byte character are separate tokens when no merge joins them.
  EXPECT_EQ(tok->encode("h\xC3\xA9llo"), (Ids{'h', 0xC3, 0xA9, 257, 'o'}));
  EXPECT_TRUE(tok->encode("").empty());
}

TEST(BpeTokenizer, AddedTokensLongestFirstAndSpecialFlags) {
  auto tok = Tokenizer::load(kTiny);
  EXPECT_EQ(tok->encode("hello<|endoftext|> world"), (Ids{259, 266, 264}));
  EXPECT_EQ(tok->encode("<|im_start|>user\nhi<|im_end|>"), (Ids{271, '\n', 'h', 'i', 268}));
  EXPECT_EQ(tok->encode("<|im_start|>use"), (Ids{267, 'u', 's', 'e'}));
  EXPECT_EQ(tok->encode("<|im_"), (Ids{'<', '|', 'i', 'm', '_'}));
  Ids ids = tok->encode("[note]hello<|endoftext|>");
  EXPECT_EQ(ids, (Ids{270, 259, 266}));
  EXPECT_EQ(tok->decode(ids), "[note]hello<|endoftext|>");
  // Only special tokens are skipped; [note] is an added but not special token.
  EXPECT_EQ(tok->decode(ids, /*skip_special=*/true), "[note]hello");
}

TEST(BpeTokenizer, PostProcessorAddsBos) {
  auto tok = Tokenizer::load(kTiny);
  EXPECT_EQ(tok->encode("hello", /*add_special=*/true), (Ids{269, 259}));
  EXPECT_EQ(tok->bos_id(), std::optional<std::int32_t>(269));
  EXPECT_EQ(tok->eos_id(), std::optional<std::int32_t>(266));  // by name: <|endoftext|>
  EXPECT_EQ(tok->vocab_size(), 272u);
  EXPECT_EQ(tok->token_to_id("\xC4\xA0world"), std::optional<std::int32_t>(264));  // "Ġworld"
  EXPECT_EQ(tok->token_to_id("<|im_end|>"), std::optional<std::int32_t>(268));
  EXPECT_FALSE(tok->token_to_id("nope").has_value());
}

TEST(BpeTokenizer, TokenizerConfigNamesBosAndEos) {
  testing::TempDir dir;
  testing::write_file(dir / "tokenizer_config.json",
                      R"({"bos_token": null, "eos_token": {"content": "<|im_end|>"}})");
  auto tok = load_variant(dir, tiny_json());
  EXPECT_FALSE(tok->bos_id().has_value());
  EXPECT_EQ(tok->eos_id(), std::optional<std::int32_t>(268));
  testing::write_file(dir / "tokenizer_config.json", R"({"eos_token": "<nope>"})");
  EXPECT_THAT([&] { load_variant(dir, tiny_json()); },
              ::testing::ThrowsMessage<ParseError>(HasSubstr("token \"<nope>\" is not in")));
}

TEST(BpeTokenizer, PairFormMergesGiveTheSameIds) {
  testing::TempDir dir;
  auto j = tiny_json();
  nlohmann::json pairs = nlohmann::json::array();
  for (const auto& m : j["model"]["merges"]) {
    auto s = m.get<std::string>();
    pairs.push_back({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
  }
  j["model"]["merges"] = pairs;
  auto tok = load_variant(dir, j);
  EXPECT_EQ(tok->encode("hello world hel"), (Ids{259, 264, ' ', 256, 'l'}));
}

TEST(BpeTokenizer, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  testing::TempDir dir;
  auto j = tiny_json();
  // "hel" as a vocabulary entry that no merge produces: reachable only through ignore_merges.
  j["model"]["vocab"]["hel"] = 272;
  EXPECT_EQ(load_variant(dir, j)->encode("hel"), (Ids{256, 'l'}));
  j["model"]["ignore_merges"] = true;
  EXPECT_EQ(load_variant(dir, j)->encode("hel hello"), (Ids{272, ' ', 259}));
}

TEST(BpeTokenizer, AddedTokenStripFlags) {
  testing::TempDir dir;
  auto j = tiny_json();
  j["added_tokens"][2]["lstrip"] = true;  // <|im_end|>
  j["added_tokens"][1]["rstrip"] = true;  // <|im_start|>
  auto tok = load_variant(dir, j);
  EXPECT_EQ(tok->encode("hi  <|im_end|>"), (Ids{'h', 'i', 268}));
  EXPECT_EQ(tok->encode("<|im_start|>  hi"), (Ids{267, 'h', 'i'}));
}

TEST(BpeTokenizer, RoundTripsRandomUtf8AndInvalidBytes) {
  auto tok = Tokenizer::load(kTiny);
  std::mt19937 rng(7);
  const std::vector<std::string> pieces = {
      "hello", " ",   "  ",         "\n", "\xC3\xA9", "\xE4\xBD\xA0", "\xF0\x9F\x98\x80",
      "'s",    "123", "<|im_end|>", "\t", "\xFF",     "\xC3",         "\x80",
      "x"};
  for (int round = 0; round < 300; ++round) {
    std::string text;
    int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) text += pieces[rng() % pieces.size()];
    Ids ids = tok->encode(text);
    ASSERT_EQ(tok->decode(ids), text) << "round " << round;
  }
  // Every byte value alone.
  for (int b = 0; b < 256; ++b) {
    std::string text(1, static_cast<char>(b));
    ASSERT_EQ(tok->encode(text), (Ids{b}));
  }
}

TEST(BpeTokenizer, NfcNormalizerAcceptsNfcTextAndRefusesTheRest) {
  testing::TempDir dir;
  auto j = tiny_json();
  j["normalizer"] = {{"type", "NFC"}};  // as Qwen2 ships it
  auto tok = load_variant(dir, j);
  EXPECT_EQ(tok->encode("h\xC3\xA9llo"), (Ids{'h', 0xC3, 0xA9, 257, 'o'}));
  EXPECT_THAT([&] { tok->encode("he\xCC\x81llo"); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("not certainly NFC at byte 2")));
}

TEST(BpeTokenizer, DecodeRejectsUnknownIds) {
  auto tok = Tokenizer::load(kTiny);
  EXPECT_THAT(
      [&] {
        tok->decode(Ids{259, 272});
      },
      ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("token id 272 is not in")));
  EXPECT_THAT([&] { tok->decode(Ids{-1}); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("token id -1")));
}

TEST(BpeTokenizer, ConcurrentEncodesAgree) {
  auto tok = Tokenizer::load(kTiny);
  const std::string text = "hello world, hello<|endoftext|> hel lll \xC3\xA9 ";
  const Ids expected = tok->encode(text);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        // Distinct words per thread keep the shared cache taking inserts while others read.
        std::string extra = " w" + std::to_string(t * 1000 + i);
        Ids ids = tok->encode(text + extra);
        if (ids.size() < expected.size() ||
            !std::equal(expected.begin(), expected.end(), ids.begin()) ||
            tok->decode(ids) != text + extra) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace oap
