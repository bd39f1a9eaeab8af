#include "llm/tokenizer_pre_tokenizer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "oap/core/error.hpp"

namespace oap::detail {
namespace {

using ::testing::AllOf;
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
  // A match merges only with a neighbour that is not a match itself (tokenizers 0.23 gives
  // exactly these).
  EXPECT_THAT(split(PreTokenizer(split_step("-", "MergedWithPrevious", false), "t"), text),
              ElementsAre("a-", "b-", "-", "c"));
  EXPECT_THAT(split(PreTokenizer(split_step("-", "MergedWithNext", false), "t"), text),
              ElementsAre("a", "-b", "-", "-c"));
  EXPECT_THAT(split(PreTokenizer(split_step(" ", "MergedWithPrevious", false), "t"), "a  b   c "),
              ElementsAre("a ", " ", "b ", " ", " ", "c "));
  EXPECT_THAT(split(PreTokenizer(split_step(" ", "MergedWithNext", false), "t"), "  x"),
              ElementsAre(" ", " x"));
  EXPECT_THAT(split(PreTokenizer(split_step("-", "Contiguous", false), "t"), text),
              ElementsAre("a", "-", "b", "--", "c"));
  // invert: the pattern names the words to keep, the rest is what gets removed.
  EXPECT_THAT(split(PreTokenizer(split_step("[a-z]", "Removed", true), "t"), text),
              ElementsAre("a", "b", "c"));
}

nlohmann::json metaspace(const char* scheme, bool split_words) {
  return {{"type", "Metaspace"},
          {"replacement", "\xE2\x96\x81"},
          {"prepend_scheme", scheme},
          {"split", split_words}};
}

std::vector<std::string> split_at(const PreTokenizer& p, std::string_view text, bool at_start) {
  std::vector<std::string> words;
  p.split(text, words, at_start);
  return words;
}

#define U2581 "\xE2\x96\x81"

// Expected words checked against tokenizers 0.23's Metaspace pre-tokenizer.
TEST(PreTokenizer, MetaspaceReplacesSpacesPrependsAndSplits) {
  PreTokenizer always(metaspace("always", true), "t");
  EXPECT_FALSE(always.has_byte_level());
  EXPECT_THAT(split(always, "a  b"), ElementsAre(U2581 "a", U2581, U2581 "b"));
  // Text that already starts with a space (or "▁") gets no second one.
  EXPECT_THAT(split(always, " a" U2581 "b"), ElementsAre(U2581 "a", U2581 "b"));
  EXPECT_THAT(split_at(always, "x", false), ElementsAre(U2581 "x"));
  EXPECT_THAT(split(always, ""), ElementsAre());

  PreTokenizer never(metaspace("never", true), "t");
  EXPECT_THAT(split(never, "a  b"), ElementsAre("a", U2581, U2581 "b"));

  PreTokenizer whole(metaspace("always", false), "t");
  EXPECT_THAT(split(whole, "a  b"), ElementsAre(U2581 "a" U2581 U2581 "b"));
}

TEST(PreTokenizer, MetaspaceFirstPrependsOnlyAtTheStartOfTheInput) {
  PreTokenizer first(metaspace("first", false), "t");
  EXPECT_THAT(split_at(first, "Hi", true), ElementsAre(U2581 "Hi"));
  EXPECT_THAT(split_at(first, "Hi", false), ElementsAre("Hi"));
  EXPECT_THAT(split_at(first, " Hi", false), ElementsAre(U2581 "Hi"));
  // After a step that removed the text's first character, the first word no longer starts the
  // input (tokenizers: Split "x" Removed then Metaspace first: "xa b" -> "a", "▁b").
  nlohmann::json seq = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Split"},
                           {"pattern", {{"String", "x"}}},
                           {"behavior", "Removed"},
                           {"invert", false}},
                          metaspace("first", true)}}};
  PreTokenizer p(seq, "t");
  EXPECT_THAT(split(p, "xa b"), ElementsAre("a", U2581 "b"));
  EXPECT_THAT(split(p, "a xb"), ElementsAre(U2581 "a", U2581, "b"));
}

TEST(PreTokenizer, MetaspaceOldFormWithAddPrefixSpace) {
  // Files written before prepend_scheme: add_prefix_space true is "always", false is "never";
  // split defaults to true.
  PreTokenizer on({{"type", "Metaspace"}, {"replacement", U2581}, {"add_prefix_space", true}}, "t");
  EXPECT_THAT(split_at(on, "a b", false), ElementsAre(U2581 "a", U2581 "b"));
  PreTokenizer off({{"type", "Metaspace"}, {"replacement", U2581}, {"add_prefix_space", false}},
                   "t");
  EXPECT_THAT(split(off, "a b"), ElementsAre("a", U2581 "b"));
}

TEST(PreTokenizer, SplitWithAStringPattern) {
  // Gemma 3 ships Split {"String": " "} MergedWithPrevious; the pattern is literal text.
  nlohmann::json j = {{"type", "Split"},
                      {"pattern", {{"String", ".+"}}},
                      {"behavior", "MergedWithPrevious"},
                      {"invert", false}};
  EXPECT_THAT(split(PreTokenizer(j, "t"), "a.+b.+.+"), ElementsAre("a.+", "b.+", ".+"));
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
  EXPECT_THAT(
      [] {
        PreTokenizer p({{"type", "Sequence"}, {"pretokenizers", {{{"type", "Whitespace"}}}}},
                       "f.json");
      },
      ::testing::ThrowsMessage<ConfigError>(
          AllOf(HasSubstr("f.json: field 'pre_tokenizer.pretokenizers[0].type'"),
                HasSubstr("unsupported pre-tokenizer type \"Whitespace\""))));
  try {
    PreTokenizer p({{"type", "Metaspace"}, {"replacement", "__"}}, "f.json");
    FAIL() << "expected ParseError";
  } catch (const ParseError& e) {
    EXPECT_EQ(e.field(), "pre_tokenizer.replacement");
    EXPECT_THAT(e.what(), HasSubstr("expected one character"));
  }
  EXPECT_THAT(
      [] {
        PreTokenizer p({{"type", "Metaspace"},
                        {"replacement", "\xE2\x96\x81"},
                        {"add_prefix_space", false},
                        {"prepend_scheme", "first"}},
                       "f.json");
      },
      ::testing::ThrowsMessage<ParseError>(HasSubstr("contradicts prepend_scheme")));
  EXPECT_THAT([] { PreTokenizer p(split_step("(", "Isolated", false), "f.json"); },
              ::testing::ThrowsMessage<ParseError>(HasSubstr("invalid regular expression /(/")));
  EXPECT_THAT([] { PreTokenizer p(split_step("a", "Sideways", false), "f.json"); },
              ::testing::ThrowsMessage<ParseError>(HasSubstr("unknown split behavior Sideways")));
}

}  // namespace
}  // namespace oap::detail
