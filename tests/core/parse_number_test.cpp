#include "oap/core/parse_number.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace oap {
namespace {

TEST(ParseNumber, DoublesTakeTheWholeTextOnly) {
  EXPECT_EQ(parse_number<double>("0.7"), 0.7);
  EXPECT_EQ(parse_number<double>("+2"), 2.0);
  EXPECT_EQ(parse_number<double>("-0.5"), -0.5);
  EXPECT_EQ(parse_number<double>(".5"), 0.5);
  EXPECT_EQ(parse_number<double>("1e-3"), 1e-3);
  for (const char* bad : {"", " ", "0.7x", "x0.7", " 1", "1 ", "1,5", "nan", "NaN", "inf", "-inf",
                          "infinity", "0x10", "1e400", "+", "-", "+-1", "--1", "1e"}) {
    EXPECT_FALSE(parse_number<double>(bad)) << '"' << bad << '"';
  }
}

TEST(ParseNumber, IntegersCheckSignAndRange) {
  EXPECT_EQ(parse_number<int>("42"), 42);
  EXPECT_EQ(parse_number<int>("-42"), -42);
  EXPECT_EQ(parse_number<int>("+7"), 7);
  EXPECT_EQ(parse_number<std::uint64_t>("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(parse_number<std::uint64_t>("18446744073709551616"));
  EXPECT_FALSE(parse_number<std::uint64_t>("-1"));
  EXPECT_FALSE(parse_number<int>("2147483648"));
  EXPECT_EQ(parse_number<int>("-2147483648"), INT32_MIN);
  for (const char* bad : {"", "1.0", "1e3", "12a", " 1", "0x1", "+-1", "-+1"}) {
    EXPECT_FALSE(parse_number<int>(bad)) << '"' << bad << '"';
  }
}

}  // namespace
}  // namespace oap
