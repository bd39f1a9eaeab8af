#include "oap/core/user_id.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "oap/core/error.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;

TEST(UserId, ValidIdsHaveNoProblem) {
  EXPECT_EQ(user_id_problem("alice"), "");
  EXPECT_EQ(user_id_problem("user@example.com"), "");
  EXPECT_EQ(user_id_problem("Zoë 東京 🙂"), "");
  EXPECT_EQ(user_id_problem(std::string(kMaxUserIdBytes, 'a')), "");
}

TEST(UserId, ProblemsAreNamed) {
  EXPECT_EQ(user_id_problem(""), "empty");
  EXPECT_THAT(user_id_problem(std::string(kMaxUserIdBytes + 1, 'a')), HasSubstr("longer than 256"));
  EXPECT_EQ(user_id_problem("ab\ncd"), "contains control character 0x0a at byte 2");
  EXPECT_EQ(user_id_problem("ab\xff"), "invalid UTF-8 at byte 2");
  EXPECT_EQ(user_id_problem("\xc0\xaf"), "invalid UTF-8 at byte 0");       // overlong '/'
  EXPECT_EQ(user_id_problem("a\xed\xa0\x80"), "invalid UTF-8 at byte 1");  // surrogate
  EXPECT_EQ(user_id_problem("\xe6\x9d"), "invalid UTF-8 at byte 0");       // truncated
}

TEST(UserId, ValidateThrowsWithIdAndReason) {
  try {
    validate_user_id("bad\tid");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("invalid user id \"bad\tid\": contains control character 0x09"));
  }
}

TEST(UserId, FileStemCannotEscapeADirectory) {
  for (const char* id : {"../../etc/passwd", "/abs/path", "a/b", ".", "..", "C:\\x", "nul"}) {
    std::string stem = user_file_stem(id);
    EXPECT_EQ(stem.find('/'), std::string::npos) << id;
    EXPECT_EQ(stem.find('\\'), std::string::npos) << id;
    EXPECT_EQ(stem.find(".."), std::string::npos) << id;
    EXPECT_NE(stem, ".");
    for (char c : stem) {
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') << id;
    }
  }
}

TEST(UserId, FileStemIsStableReadableAndDistinct) {
  EXPECT_EQ(user_file_stem("alice"), user_file_stem("alice"));
  EXPECT_EQ(user_file_stem("alice").rfind("alice_", 0), 0u);
  // Ids that map to the same readable part still get different stems.
  EXPECT_NE(user_file_stem("a/b"), user_file_stem("a_b"));
  std::set<std::string> stems;
  for (int i = 0; i < 10000; ++i) stems.insert(user_file_stem("user" + std::to_string(i)));
  EXPECT_EQ(stems.size(), 10000u);
  EXPECT_LE(user_file_stem(std::string(256, 'x')).size(), 48u + 1 + 16);
}

}  // namespace
}  // namespace oap
