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

TEST(Timestamp, ReadsWhatExportersWrite) {
  const auto utc = parse_rfc3339("2015-02-26T21:42:53Z");
  ASSERT_TRUE(utc);
  // pandas, spreadsheets, most metric exporters: no 'T', no zone; read as UTC by default.
  EXPECT_EQ(parse_date_time("2015-02-26 21:42:53"), utc);
  EXPECT_EQ(parse_date_time("2015-02-26T21:42:53"), utc);
  EXPECT_EQ(parse_date_time("2015-02-26 21:42:53.000"), utc);
  EXPECT_EQ(to_micros(*parse_date_time("2015-02-26 21:42:53.5")), to_micros(*utc) + 500000);
  EXPECT_EQ(parse_date_time("2015-02-26 21:42"), parse_rfc3339("2015-02-26T21:42:00Z"));
  // Zones as databases write them: +hh:mm, +hhmm, +hh.
  EXPECT_EQ(parse_date_time("2015-02-26 22:42:53+01:00"), utc);
  EXPECT_EQ(parse_date_time("2015-02-26 22:42:53+0100"), utc);
  EXPECT_EQ(parse_date_time("2015-02-26 22:42:53+01"), utc);
  EXPECT_EQ(parse_date_time("2015-02-26 13:12:53-0830"), utc);
  EXPECT_EQ(parse_date_time("2015-02-26 21:42:53Z"), utc);
}

TEST(Timestamp, NaiveTimesAreReadAtTheGivenOffset) {
  const auto utc = parse_rfc3339("2015-02-26T21:42:53Z");
  EXPECT_EQ(parse_date_time("2015-02-27 03:12:53", UtcOffset{330}), utc);
  EXPECT_EQ(parse_date_time("2015-02-26 13:42:53", UtcOffset{-480}), utc);
  // A written zone wins over the default.
  EXPECT_EQ(parse_date_time("2015-02-26T21:42:53Z", UtcOffset{330}), utc);
  EXPECT_EQ(parse_timestamp("2015-02-27 03:12:53", UtcOffset{330}), utc);
  // RFC 3339 needs the zone.
  EXPECT_FALSE(parse_rfc3339("2015-02-26 21:42:53"));
}

TEST(Timestamp, RejectsWhatIsNotADateTime) {
  for (const char* bad :
       {"2015-02-30 00:00:00", "2015-2-3 00:00:00", "2015-02-03 1:00:00", "2015-02-26 25:00",
        "2015-02-26 21:42:53 junk", "2015-02-26 21:42:53 UTC", " 2015-02-26 21:42:53", "2015-02-26",
        "2015-02-26 21", "2015-02-26 21:42:5", "2015-02-26 21:42.5", "2015-02-26  21:42:53",
        "2015-02-26 21:42:53+24:00", "2015-02-26 21:42:53+01:60", "2015-02-26 21:42:53+1",
        "2015-02-26 21:42:53+013", "9999-12-31 23:59:59-01:00"}) {
    EXPECT_FALSE(parse_date_time(bad)) << bad;
    EXPECT_FALSE(parse_timestamp(bad)) << bad;
  }
}

TEST(Timestamp, TextTimestampsAreDateTimesOrSeconds) {
  EXPECT_EQ(to_micros(*parse_timestamp("1714564800.25")), 1714564800250000);
  EXPECT_EQ(to_micros(*parse_timestamp("-1")), -1000000);
  EXPECT_EQ(parse_timestamp("2024-05-01T12:30:00Z"), parse_rfc3339("2024-05-01T12:30:00Z"));
  for (const char* bad : {"", "1714564800x", "nan", "1e300", "yesterday", " 1"}) {
    EXPECT_FALSE(parse_timestamp(bad)) << bad;
  }
  auto message = describe_bad_timestamp("2015-02-30");
  EXPECT_NE(message.find("not a timestamp: \"2015-02-30\""), std::string::npos) << message;
  EXPECT_NE(message.find(kDateTimeForms), std::string::npos) << message;
  EXPECT_NE(message.find("seconds since the epoch"), std::string::npos) << message;
}

TEST(Timestamp, UtcOffsets) {
  EXPECT_EQ(parse_utc_offset("UTC"), UtcOffset{0});
  EXPECT_EQ(parse_utc_offset("Z"), UtcOffset{0});
  EXPECT_EQ(parse_utc_offset("+05:30"), UtcOffset{330});
  EXPECT_EQ(parse_utc_offset("-08:00"), UtcOffset{-480});
  EXPECT_EQ(parse_utc_offset("+0530"), UtcOffset{330});
  EXPECT_EQ(parse_utc_offset("-03"), UtcOffset{-180});
  for (const char* bad : {"", "Europe/Paris", "+5:30", "+24:00", "05:30", "UTC+1", "+05:30 "}) {
    EXPECT_FALSE(parse_utc_offset(bad)) << bad;
  }
  EXPECT_EQ(format_utc_offset(UtcOffset{0}), "UTC");
  EXPECT_EQ(format_utc_offset(UtcOffset{330}), "+05:30");
  EXPECT_EQ(format_utc_offset(UtcOffset{-480}), "-08:00");
  EXPECT_EQ(format_utc_offset(UtcOffset{-30}), "-00:30");
  EXPECT_EQ(parse_utc_offset(format_utc_offset(UtcOffset{-30})), UtcOffset{-30});
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
