// The tokenizer.json normalizer steps on hand-made configurations. Expected texts follow Hugging
// Face tokenizers' definitions (checked against tokenizers 0.23 where marked).
#include "llm/tokenizer_normalizer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "oap/core/error.hpp"

namespace oap::detail {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

#define U2581 "\xE2\x96\x81"

std::string normalized(const Normalizer& n, std::string text) {
  n.normalize(text);
  return text;
}

const nlohmann::json kPrepend = {{"type", "Prepend"}, {"prepend", U2581}};
const nlohmann::json kSpaceToMeta = {
    {"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", U2581}};

TEST(Normalizer, NullIsTheIdentity) {
  Normalizer n(nullptr, "t");
  EXPECT_TRUE(n.is_identity());
  EXPECT_EQ(normalized(n, " a b "), " a b ");
}

TEST(Normalizer, PrependAddsToNonEmptyTextOnly) {
  Normalizer n(kPrepend, "t");
  EXPECT_FALSE(n.is_identity());
  EXPECT_EQ(normalized(n, "Hi"), U2581 "Hi");
  EXPECT_EQ(normalized(n, " Hi"), U2581 " Hi");  // always, even before a space
  EXPECT_EQ(normalized(n, ""), "");
}

TEST(Normalizer, ReplaceStringEveryOccurrence) {
  Normalizer n(kSpaceToMeta, "t");
  EXPECT_EQ(normalized(n, "  a b "), U2581 U2581 "a" U2581 "b" U2581);
  EXPECT_EQ(normalized(n, "none"), "none");
  Normalizer longer({{"type", "Replace"}, {"pattern", {{"String", "aa"}}}, {"content", "b"}}, "t");
  EXPECT_EQ(normalized(longer, "aaaaa"), "bba");  // non-overlapping, left to right
}

TEST(Normalizer, ReplaceRegex) {
  Normalizer n({{"type", "Replace"}, {"pattern", {{"Regex", "\\s+"}}}, {"content", " "}}, "t");
  EXPECT_EQ(normalized(n, "a \t\n b\n"), "a b ");
  // Invalid UTF-8 passes through; the pattern matches around it.
  EXPECT_EQ(normalized(n, "\xFF  \xC3"), "\xFF \xC3");
}

TEST(Normalizer, SentencePieceSequenceAsLlama2ShipsIt) {
  Normalizer n({{"type", "Sequence"}, {"normalizers", {kPrepend, kSpaceToMeta}}}, "t");
  EXPECT_EQ(normalized(n, "Hello world"), U2581 "Hello" U2581 "world");
  // A leading space gives two "▁", as SentencePiece's add_dummy_prefix does.
  EXPECT_EQ(normalized(n, " Hello"), U2581 U2581 "Hello");
  EXPECT_EQ(normalized(n, ""), "");
  // tokenizers 0.23, Sequence[Replace \s+ -> " ", Prepend, Replace]: "  " -> "▁▁".
  Normalizer r({{"type", "Sequence"},
                {"normalizers",
                 {{{"type", "Replace"}, {"pattern", {{"Regex", "\\s+"}}}, {"content", " "}},
                  kPrepend,
                  kSpaceToMeta}}},
               "t");
  EXPECT_EQ(normalized(r, "  "), U2581 U2581);
}

TEST(Normalizer, NfcIsACheckOnTheInput) {
  Normalizer n({{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}, kSpaceToMeta}}}, "t");
  EXPECT_FALSE(n.is_identity());
  EXPECT_NO_THROW(n.check("caf\xC3\xA9"));
  EXPECT_THAT([&] { n.check("cafe\xCC\x81"); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("not certainly NFC at byte 4")));
  EXPECT_TRUE(Normalizer({{"type", "NFC"}}, "t").is_identity());
}

TEST(Normalizer, UnsupportedAndMalformed) {
  EXPECT_THAT(
      [] {
        Normalizer n({{"type", "Lowercase"}}, "f.json");
      },
      ::testing::ThrowsMessage<ConfigError>(
          AllOf(HasSubstr("f.json: field 'normalizer.type'"),
                HasSubstr("unsupported normalizer \"Lowercase\""),
                HasSubstr("supported: Sequence, Prepend, Replace, NFC"))));
  EXPECT_THAT(
      [] {
        Normalizer n({{"type", "Sequence"}, {"normalizers", {{{"type", "NFKC"}}}}}, "f");
      },
      ::testing::ThrowsMessage<ConfigError>(
          HasSubstr("field 'normalizer.normalizers[0].type': unsupported normalizer "
                    "\"NFKC\"")));
  try {
    Normalizer n({{"type", "Replace"}, {"pattern", {{"Regex", "("}}}, {"content", ""}}, "f.json");
    FAIL() << "expected ParseError";
  } catch (const ParseError& e) {
    EXPECT_EQ(e.field(), "normalizer.pattern");
    EXPECT_THAT(e.what(), HasSubstr("invalid regular expression"));
  }
  EXPECT_THAT(
      [] {
        Normalizer n({{"type", "Replace"}, {"pattern", {{"String", " "}}}}, "f");
      },
      ::testing::ThrowsMessage<ParseError>(HasSubstr("'normalizer.content': missing")));
  EXPECT_THAT([] { Normalizer n(nlohmann::json::array(), "f"); },
              ::testing::ThrowsMessage<ParseError>(HasSubstr("expected an object, got array")));
}

}  // namespace
}  // namespace oap::detail
