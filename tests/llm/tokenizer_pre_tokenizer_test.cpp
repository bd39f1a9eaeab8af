#include "llm/tokenizer_pre_tokenizer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "oap/core/error.hpp"

namespace oap::detail {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> split(const PreTokenizer& p, std::string_view text) {
  std::vector<std::string> words;
  p.split(text, words);
  return words;
}

nlohmann::json split_step(const std::string& regex, const std::string& behavior, bool invert) {
  return {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"},
             {"pattern", {{"Regex", regex}}},
             {"behavior", behavior},
             {"invert", invert}},
            {{"type", "ByteLevel"}, {"use_regex", false}}}}};
}

TEST(PreTokenizer, Gpt2ByteLevelRegex) {
  PreTokenizer p({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}, "t");
  EXPECT_TRUE(p.has_byte_level());
  EXPECT_THAT(split(p, "Hello world's  3.14\n"),
              ElementsAre("Hello", " world", "'s", " ", " 3", ".", "14", "\n"));
}

TEST(PreTokenizer, Llama3RegexSplitsDigitsInThreesAndKeepsCaseInsensitiveContractions) {
  PreTokenizer p(split_step(PreTokenizer::llama3_pattern(), "Isolated", false), "t");
  EXPECT_THAT(split(p, "I'M 1234567 caf\xC3\xA9!!\n\n  x"),
              ElementsAre("I", "'M", " ", "123", "456", "7", " caf\xC3\xA9", "!!\n\n", " ", " x"));
}

TEST(PreTokenizer, AddPrefixSpace) {
  PreTokenizer p({{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}, "t");
  EXPECT_THAT(split(p, "hi there"), ElementsAre(" hi", " there"));
  EXPECT_THAT(split(p, " hi"), ElementsAre(" hi"));
}

TEST(PreTokenizer, SplitBehaviors) {
  const std::string text = "a-b--c";
  EXPECT_THAT(split(PreTokenizer(split_step("-", "Isolated", false), "t"), text),
              ElementsAre("a", "-", "b", "-", "-", "c"));
  EXPECT_THAT(split(PreTokenizer(split_step("-", "Removed", false), "t"), text),
              ElementsAre("a", "b", "c"));
  EXPECT_THAT(split(PreTokenizer(split_step("-", "MergedWithPrevious", false), "t"), text),
              ElementsAre("a-", "b--", "c"));
  EXPECT_THAT(split(PreTokenizer(split_step("-", "MergedWithNext", false), "t"), text),
              ElementsAre("a", "-b", "--c"));
  EXPECT_THAT(split(PreTokenizer(split_step("-", "Contiguous", false), "t"), text),
              ElementsAre("a", "-", "b", "--", "c"));
  // invert: the pattern names the words to keep, the rest is what gets removed.
  EXPECT_THAT(split(PreTokenizer(split_step("[a-z]", "Removed", true), "t"), text),
              ElementsAre("a", "b", "c"));
}

TEST(PreTokenizer, DigitsStep) {
  nlohmann::json j = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Digits"}, {"individual_digits", true}}, {{"type", "ByteLevel"}}}}};
  EXPECT_THAT(split(PreTokenizer(j, "t"), "ab12"), ElementsAre("ab", "1", "2"));
}

TEST(PreTokenizer, InvalidUtf8BytesFormTheirOwnWords) {
  PreTokenizer p(split_step(PreTokenizer::llama3_pattern(), "Isolated", false), "t");
  EXPECT_THAT(split(p,
                    "ab\xFF\xFE"
                    "cd"),
              ElementsAre("ab", "\xFF\xFE", "cd"));
  EXPECT_THAT(split(p, "\xC3"), ElementsAre("\xC3"));
}

TEST(PreTokenizer, LongWhitespaceRunDoesNotBlowTheStack) {
  PreTokenizer p(split_step(PreTokenizer::llama3_pattern(), "Isolated", false), "t");
  std::string text(200000, ' ');
  text += "x";
  auto words = split(p, text);
  ASSERT_EQ(words.size(), 2u);
  EXPECT_EQ(words[0].size(), 199999u);
  EXPECT_EQ(words[1], " x");
}

TEST(PreTokenizer, ErrorsNameTheField) {
  try {
    PreTokenizer p({{"type", "Sequence"}, {"pretokenizers", {{{"type", "Metaspace"}}}}}, "f.json");
    FAIL() << "expected ParseError";
  } catch (const ParseError& e) {
    EXPECT_EQ(e.field(), "pre_tokenizer.pretokenizers[0].type");
    EXPECT_THAT(e.what(), HasSubstr("unsupported pre-tokenizer type \"Metaspace\""));
    EXPECT_THAT(e.what(), HasSubstr("f.json"));
  }
  EXPECT_THAT([] { PreTokenizer p(split_step("(", "Isolated", false), "f.json"); },
              ::testing::ThrowsMessage<ParseError>(HasSubstr("invalid regular expression /(/")));
  EXPECT_THAT([] { PreTokenizer p(split_step("a", "Sideways", false), "f.json"); },
              ::testing::ThrowsMessage<ParseError>(HasSubstr("unknown split behavior Sideways")));
}

}  // namespace
}  // namespace oap::detail
