// The tokenizer.json decoder steps on hand-made configurations. Expected texts were checked
// against Hugging Face tokenizers 0.23 (its Node binding), except where our bytes deliberately
// differ from its U+FFFD (marked).
#include "llm/tokenizer_decoder.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "oap/core/error.hpp"

namespace oap::detail {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using Tokens = std::vector<std::string>;

#define U2581 "\xE2\x96\x81"

const nlohmann::json kMetaToSpace = {
    {"type", "Replace"}, {"pattern", {{"String", U2581}}}, {"content", " "}};
const nlohmann::json kStripOneLeadingSpace = {
    {"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}};

// Llama-2 / Mistral: Sequence[Replace "▁" -> " ", ByteFallback, Fuse, Strip(" ", 1, 0)].
nlohmann::json llama2_decoder() {
  return {{"type", "Sequence"},
          {"decoders",
           {kMetaToSpace, {{"type", "ByteFallback"}}, {{"type", "Fuse"}}, kStripOneLeadingSpace}}};
}

TEST(Decoder, Llama2Chain) {
  Decoder d(llama2_decoder(), "t");
  EXPECT_FALSE(d.is_byte_level());
  EXPECT_EQ(d.decode({U2581 "Hello", U2581 "world"}), "Hello world");
  EXPECT_EQ(d.decode({U2581, U2581 "Hello"}), " Hello");
  // Strip acts on the fused text once: only the very first space goes.
  EXPECT_EQ(d.decode({"<s>", U2581 "Hi"}), "<s> Hi");
  EXPECT_EQ(d.decode({}), "");
}

TEST(Decoder, ByteFallbackJoinsRunsOfByteTokens) {
  Decoder d({{"type", "Sequence"}, {"decoders", {{{"type", "ByteFallback"}}, {{"type", "Fuse"}}}}},
            "t");
  EXPECT_EQ(d.decode({"<0xE4>", "<0xBD>", "<0xA0>"}), "\xE4\xBD\xA0");  // 你
  EXPECT_EQ(d.decode({"a", "<0xF0>", "<0x9F>", "<0x98>", "<0x80>", "b"}),
            "a\xF0\x9F\x98\x80"
            "b");
  // Lower-case hex digits count too; other look-alikes do not.
  EXPECT_EQ(d.decode({"<0x41>", "<0x6a>", "<0x4G>", "<0x411>"}), "Aj<0x4G><0x411>");
  // Deliberate difference: tokenizers writes one U+FFFD per byte token of a run that is not
  // valid UTF-8 ("<0xE4><0xBD>" -> "\uFFFD\uFFFD"); we keep the bytes.
  EXPECT_EQ(d.decode({"<0xE4>", "<0xBD>"}), "\xE4\xBD");
  EXPECT_EQ(d.decode({"x", "<0xFF>", "y"}), "x\xFFy");
}

TEST(Decoder, StripPerTokenWhenBeforeFuse) {
  Decoder d({{"type", "Sequence"},
             {"decoders", {kMetaToSpace, kStripOneLeadingSpace, {{"type", "Fuse"}}}}},
            "t");
  EXPECT_EQ(d.decode({U2581 "Hello", U2581 "world", "<s>"}), "Helloworld<s>");
  Decoder both({{"type", "Sequence"},
                {"decoders",
                 {kMetaToSpace,
                  {{"type", "Fuse"}},
                  {{"type", "Strip"}, {"content", " "}, {"start", 2}, {"stop", 2}}}}},
               "t");
  EXPECT_EQ(both.decode({U2581, U2581, U2581 "Hello", U2581, U2581, U2581}), " Hello ");
  EXPECT_EQ(both.decode({U2581}), "");
}

TEST(Decoder, MetaspaceDropsTheReplacementInTheFirstToken) {
  Decoder d({{"type", "Metaspace"},
             {"replacement", U2581},
             {"prepend_scheme", "always"},
             {"split", true}},
            "t");
  EXPECT_EQ(d.decode({U2581 "Hello", U2581 "world"}), "Hello world");
  // Every "▁" of the first token goes, not only a leading one.
  EXPECT_EQ(d.decode({U2581 U2581, U2581 "Hello"}), " Hello");
  EXPECT_EQ(d.decode({U2581 U2581 U2581 U2581}), "");
  EXPECT_EQ(d.decode({"<s>", U2581 U2581}), "<s>  ");
  Decoder never({{"type", "Metaspace"}, {"replacement", U2581}, {"prepend_scheme", "never"}}, "t");
  EXPECT_EQ(never.decode({U2581 "Hello", U2581 "world"}), " Hello world");
  Decoder old({{"type", "Metaspace"}, {"replacement", U2581}, {"add_prefix_space", true}}, "t");
  EXPECT_EQ(old.decode({U2581 "a", U2581 "b"}), "a b");
}

TEST(Decoder, ReplaceRegexAndByteLevel) {
  Decoder r({{"type", "Replace"}, {"pattern", {{"Regex", "_+"}}}, {"content", "-"}}, "t");
  EXPECT_EQ(r.decode({"a__b", "_"}), "a-b-");
  Decoder b({{"type", "ByteLevel"}}, "t");
  EXPECT_TRUE(b.is_byte_level());
  EXPECT_EQ(b.decode({"Hello", "\xC4\xA0world", "<|eot_id|>", "\xE4\xBD\xA0"}),
            "Hello world<|eot_id|>\xE4\xBD\xA0");
}

TEST(Decoder, NullJoinsWithSpaces) {
  Decoder d(nullptr, "t");
  EXPECT_TRUE(d.is_null());
  EXPECT_EQ(d.decode({U2581 "Hello", U2581 "world", "<0xE4>"}),
            U2581 "Hello " U2581 "world <0xE4>");
}

TEST(Decoder, UnsupportedAndMalformed) {
  EXPECT_THAT(
      [] {
        Decoder d({{"type", "WordPiece"}, {"prefix", "##"}}, "f.json");
      },
      ::testing::ThrowsMessage<ConfigError>(AllOf(
          HasSubstr("f.json: field 'decoder.type'"), HasSubstr("unsupported decoder \"WordPiece\""),
          HasSubstr("ByteFallback, Fuse, Strip, Metaspace"))));
  try {
    Decoder d({{"type", "Sequence"},
               {"decoders", {kMetaToSpace, {{"type", "Strip"}, {"content", " "}, {"start", "1"}}}}},
              "f.json");
    FAIL() << "expected ParseError";
  } catch (const ParseError& e) {
    EXPECT_EQ(e.field(), "decoder.decoders[1].start");
  }
  EXPECT_THAT(
      [] {
        Decoder d({{"type", "Sequence"}}, "f");
      },
      ::testing::ThrowsMessage<ParseError>(HasSubstr("'decoder.decoders': missing")));
}

TEST(Decoder, ByteFallbackValue) {
  EXPECT_EQ(byte_fallback_value("<0x0A>"), 10);
  EXPECT_EQ(byte_fallback_value("<0xff>"), 255);
  EXPECT_EQ(byte_fallback_value("<0x0A"), -1);
  EXPECT_EQ(byte_fallback_value("<1x0A>"), -1);
  EXPECT_EQ(byte_fallback_value("<0xZZ>"), -1);
}

}  // namespace
}  // namespace oap::detail
