#include "oap/core/timestamp.hpp"

#include <gtest/gtest.h>

namespace oap {
namespace {

TEST(Timestamp, ParsesUtcWithAndWithoutFraction) {
  auto t = parse_rfc3339("2024-05-01T12:30:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(to_micros(*t), 1714566600LL * 1000000);
  auto f = parse_rfc3339("2024-05-01T12:30:00.25Z");
  ASSERT_TRUE(f);
  EXPECT_EQ(to_micros(*f), 1714566600LL * 1000000 + 250000);
  // Digits past microseconds are truncated.
  EXPECT_EQ(to_micros(*parse_rfc3339("1970-01-01T00:00:00.1234567Z")), 123456);
}

TEST(Timestamp, AppliesOffsets) {
  auto plus = parse_rfc3339("2024-05-01T14:30:00+02:00");
  auto minus = parse_rfc3339("2024-05-01T07:00:00-05:30");
  auto utc = parse_rfc3339("2024-05-01T12:30:00Z");
  ASSERT_TRUE(plus && minus && utc);
  EXPECT_EQ(*plus, *utc);
  EXPECT_EQ(*minus, *utc);
}

TEST(Timestamp, AcceptsSpaceSeparatorAndLowercase) {
  EXPECT_EQ(parse_rfc3339("2024-05-01 12:30:00z"), parse_rfc3339("2024-05-01T12:30:00Z"));
}

TEST(Timestamp, RejectsMalformedAndImpossibleDates) {
  for (const char* bad :
       {"", "2024-05-01", "2024-05-01T12:30:00", "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z",
        "2024-13-01T00:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T12:60:00Z",
        "2024-05-01T12:30:00.Z", "2024-05-01T12:30:00Zjunk", "2024-05-01T12:30:00+2:00",
        "yesterday", "0000-01-01T00:00:00Z"}) {
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
  }
  EXPECT_TRUE(parse_rfc3339("2024-02-29T00:00:00Z"));  // leap year
}

TEST(Timestamp, FormatsAndRoundTrips) {
  Timestamp t = timestamp_from_micros(1714566600LL * 1000000 + 7);
  EXPECT_EQ(format_rfc3339(t), "2024-05-01T12:30:00.000007Z");
  EXPECT_EQ(parse_rfc3339(format_rfc3339(t)), t);
  Timestamp before_epoch = timestamp_from_micros(-1);
  EXPECT_EQ(format_rfc3339(before_epoch), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(parse_rfc3339(format_rfc3339(before_epoch)), before_epoch);
}

TEST(Timestamp, FromSecondsRoundsToMicrosecondsAndChecksRange) {
  EXPECT_EQ(to_micros(*timestamp_from_seconds(1.5)), 1500000);
  EXPECT_EQ(to_micros(*timestamp_from_seconds(-0.0000004)), 0);
  EXPECT_FALSE(timestamp_from_seconds(std::numeric_limits<double>::infinity()));
  EXPECT_FALSE(timestamp_from_seconds(std::numeric_limits<double>::quiet_NaN()));
  EXPECT_FALSE(timestamp_from_seconds(1e300));
}

}  // namespace
}  // namespace oap
