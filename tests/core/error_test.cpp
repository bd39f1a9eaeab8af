#include "oap/core/error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace oap {
namespace {

using ::testing::HasSubstr;

TEST(Error, CheckMacroAddsSourceLocation) {
  const int check_line = __LINE__ + 2;
  try {
    OAP_CHECK(1 + 1 == 3, InvalidArgument, "arithmetic is broken: " + std::to_string(2));
    FAIL() << "OAP_CHECK did not throw";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("arithmetic is broken: 2"));
    // Relative to the project root whatever the checkout path (cmake/OapTargetOptions.cmake):
    // a clone under ~/src/oap used to give "[src/tests/core/...]".
    EXPECT_THAT(e.what(), ::testing::EndsWith(" [tests/core/error_test.cpp:" +
                                              std::to_string(check_line) + "]"));
  }
}

TEST(Error, CheckMacroPassesWhenTrueAndDoesNotEvaluateMessage) {
  int evaluated = 0;
  auto message = [&] {
    ++evaluated;
    return std::string("never");
  };
  EXPECT_NO_THROW(OAP_CHECK(true, Error, message()));
  EXPECT_EQ(evaluated, 0);
}

TEST(Error, HierarchyIsCatchableAsBase) {
  EXPECT_THROW(OAP_THROW(StoreError, "x"), Error);
  EXPECT_THROW(OAP_THROW(ConfigError, "x"), std::runtime_error);
}

TEST(ParseError, MessageNamesSourceLineAndField) {
  ParseError e("events.jsonl", 12, "features[3]", "not a number: string \"abc\"");
  EXPECT_STREQ(e.what(), "events.jsonl:12: field 'features[3]': not a number: string \"abc\"");
  EXPECT_EQ(e.source(), "events.jsonl");
  EXPECT_EQ(e.line(), 12u);
  EXPECT_EQ(e.field(), "features[3]");
  EXPECT_EQ(e.reason(), "not a number: string \"abc\"");
}

TEST(ParseError, MessageWithoutLineOrField) {
  EXPECT_STREQ(ParseError("in.jsonl", 0, "", "empty").what(), "in.jsonl: empty");
  EXPECT_STREQ(ParseError("", 3, "", "bad").what(), "<input>:3: bad");
}

}  // namespace
}  // namespace oap
