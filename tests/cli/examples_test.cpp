// The C++ examples of docs/quickstart.md, run as a user runs them, on the shipped English model.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "cli_runner.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::run_program;

const std::string kModel = std::string(OAP_SOURCE_DIR) + "/examples/models/tiny-en";

// The number after `label` in the program's output (-1 when absent).
long number_after(const std::string& output, const std::string& label) {
  std::smatch m;
  if (!std::regex_search(output, m, std::regex(label + " ([0-9]+)"))) return -1;
  return std::stol(m[1]);
}

TEST(Examples, QuickstartAdaptsToTheShiftAndGenerates) {
  testing::TempDir dir;
  const auto data = (dir.path() / "data").string();
  const auto r = run_program(OAP_QUICKSTART, kModel + " " + data);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("alice event 9: adapt (adapt: initial profile")) << r.output;
  // The switch to money questions at event 24 is seen and acted on.
  EXPECT_TRUE(std::regex_search(r.output, std::regex("alice event 2[4-9]: (adapt|new_context)")))
      << r.output;
  EXPECT_EQ(number_after(r.output, "events"), 32) << r.output;
  EXPECT_GE(number_after(r.output, "updates accepted"), 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("alice> how much")) << r.output;

  // Run again on the same data directory: the history continues (64 events, 32 new this run).
  const auto again = run_program(OAP_QUICKSTART, kModel + " " + data);
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_THAT(again.output, Not(HasSubstr("initial profile"))) << again.output;
}

TEST(Examples, SupportChatHandsTheAngryCustomerToAHuman) {
  testing::TempDir dir;
  const auto r = run_program(OAP_SUPPORT_CHAT, kModel + " " + (dir.path() / "data").string());
  ASSERT_EQ(r.status, 0) << r.output;
  // bea turns furious at message 20; amir and chen never change.
  EXPECT_TRUE(
      std::regex_search(r.output, std::regex(">> bea \\(message 2[0-3]\\) handed to a human")))
      << r.output;
  EXPECT_THAT(r.output, HasSubstr("handed over: bea (from message 2")) << r.output;
  EXPECT_THAT(r.output, Not(HasSubstr(">> amir"))) << r.output;
  EXPECT_THAT(r.output, Not(HasSubstr(">> chen"))) << r.output;
  EXPECT_THAT(r.output, HasSubstr("draft for amir: thank you for")) << r.output;
  EXPECT_THAT(r.output, HasSubstr("draft for chen: thank you for")) << r.output;
  EXPECT_THAT(r.output, Not(HasSubstr("draft for bea"))) << r.output;
}

TEST(Examples, RefuseAMissingModelWithAClearError) {
  testing::TempDir dir;
  const auto missing = (dir.path() / "no-model").string();
  for (const char* program : {OAP_QUICKSTART, OAP_SUPPORT_CHAT}) {
    const auto r = run_program(program, missing + " " + (dir.path() / "data").string());
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_THAT(r.output, HasSubstr("error: ")) << r.output;
    EXPECT_THAT(r.output, HasSubstr("no-model")) << r.output;
    EXPECT_EQ(run_program(program, "").status, 2);
  }
}

}  // namespace
}  // namespace oap
