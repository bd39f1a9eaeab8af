#include "llm/tokenizer_byte_level.hpp"

#include <gtest/gtest.h>

#include <set>

namespace oap::detail {
namespace {

TEST(ByteLevel, TableMatchesGpt2) {
  const auto& t = byte_to_unicode();
  EXPECT_EQ(t[' '], "\xC4\xA0");   // U+0120 'Ġ' (space is the 33rd unprintable byte -> 256+32)
  EXPECT_EQ(t['\n'], "\xC4\x8A");  // U+010A 'Ċ'
  EXPECT_EQ(t['a'], "a");
  EXPECT_EQ(t[0], "\xC4\x80");     // U+0100
  EXPECT_EQ(t[0xAD], "\xC5\x83");  // soft hyphen is the last remapped byte: U+0143
  EXPECT_EQ(t[0xE9], "\xC3\xA9");  // printable Latin-1 stands for itself
  std::set<std::string> distinct(t.begin(), t.end());
  EXPECT_EQ(distinct.size(), 256u);
}

TEST(ByteLevel, RoundTripsEveryByte) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  auto back = byte_level_to_bytes(bytes_to_byte_level(all));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, all);
}

TEST(ByteLevel, RejectsCharactersOutsideTheAlphabet) {
  EXPECT_FALSE(byte_level_to_bytes("\xE4\xBD\xA0").has_value());  // 你
  EXPECT_FALSE(byte_level_to_bytes(" ").has_value());             // a raw space is spelled Ġ
  EXPECT_EQ(byte_level_to_bytes("\xC4\xA0the"), std::optional<std::string>(" the"));
}

TEST(Utf8, DecodesAndRejects) {
  std::string s = "a\xC3\xA9\xE4\xBD\xA0\xF0\x9F\x98\x80";
  std::size_t pos = 0;
  EXPECT_EQ(next_code_point(s, pos), std::optional<std::uint32_t>('a'));
  EXPECT_EQ(next_code_point(s, pos), std::optional<std::uint32_t>(0xE9));
  EXPECT_EQ(next_code_point(s, pos), std::optional<std::uint32_t>(0x4F60));
  EXPECT_EQ(next_code_point(s, pos), std::optional<std::uint32_t>(0x1F600));
  EXPECT_EQ(pos, s.size());
  EXPECT_TRUE(is_valid_utf8(s));
  EXPECT_FALSE(is_valid_utf8("\xC0\x80"));      // overlong NUL
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));  // surrogate
  EXPECT_FALSE(is_valid_utf8("\xE4\xBD"));      // truncated
  EXPECT_FALSE(is_valid_utf8("\xFF"));
  std::string out;
  append_utf8(0x1F600, out);
  append_utf8(0x120, out);
  EXPECT_EQ(out, "\xF0\x9F\x98\x80\xC4\xA0");
}

}  // namespace
}  // namespace oap::detail
