#include "oap/core/csv_reader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "oap/core/error.hpp"

namespace oap {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string error_of(const std::string& text) {
  std::istringstream in(text);
  try {
    CsvReader r(in, "t.csv");
    while (r.next()) {
    }
  } catch (const ParseError& e) {
    return e.what();
  }
  return "";
}

TEST(CsvReader, ReadsHeaderAndRows) {
  std::istringstream in("timestamp,user,a\r\n2024-01-01T00:00:00Z,u1,1.5\r\n\n3,u2,-2\n");
  CsvReader r(in, "t.csv");
  EXPECT_THAT(r.header(), ElementsAre("timestamp", "user", "a"));
  EXPECT_EQ(r.column("a"), 2u);
  EXPECT_EQ(r.column("b"), std::nullopt);
  auto row = r.next();
  ASSERT_TRUE(row);
  EXPECT_THAT(*row, ElementsAre("2024-01-01T00:00:00Z", "u1", "1.5"));
  EXPECT_EQ(r.line(), 2u);
  row = r.next();
  ASSERT_TRUE(row);
  EXPECT_THAT(*row, ElementsAre("3", "u2", "-2"));
  EXPECT_EQ(r.line(), 4u);  // the blank line 3 is skipped but counted
  EXPECT_FALSE(r.next());
}

TEST(CsvReader, QuotedFieldsKeepDelimitersQuotesAndLineBreaks) {
  std::istringstream in("x,y\n\"a,b\",\"say \"\"hi\"\"\"\n\"two\nlines\",\"\"\nlast,1\n");
  CsvReader r(in, "t.csv");
  EXPECT_THAT(*r.next(), ElementsAre("a,b", "say \"hi\""));
  EXPECT_THAT(*r.next(), ElementsAre("two\nlines", ""));
  EXPECT_EQ(r.line(), 3u);
  EXPECT_THAT(*r.next(), ElementsAre("last", "1"));
  EXPECT_EQ(r.line(), 5u);
}

TEST(CsvReader, OtherDelimiterAndEmptyFields) {
  std::istringstream in("a;b;c\n;;\n");
  CsvReader r(in, "t.csv", ';');
  EXPECT_THAT(*r.next(), ElementsAre("", "", ""));
}

TEST(CsvReader, ErrorsNameSourceLineAndColumn) {
  EXPECT_THAT(error_of(""), HasSubstr("t.csv:1: no header row: the input is empty"));
  EXPECT_THAT(error_of("\n\n"), HasSubstr("no header row"));
  EXPECT_THAT(error_of("a,b\n1,2\n1,2,3\n"),
              HasSubstr("t.csv:3: expected 2 fields (as in the header), got 3"));
  EXPECT_THAT(error_of("a,b\n1,\"2\n"),
              HasSubstr("t.csv:2: field 'column 2': unterminated quoted field"));
  EXPECT_THAT(error_of("a,b\n\"1\"x,2\n"),
              HasSubstr("t.csv:2: field 'column 1': unexpected 'x' after a closing quote"));
  EXPECT_THAT(error_of("a,a\n"), HasSubstr("t.csv:1: field 'a': duplicate column name"));
  EXPECT_THAT(error_of("a,,b\n"), HasSubstr("field 'column 2': empty column name"));
}

}  // namespace
}  // namespace oap
