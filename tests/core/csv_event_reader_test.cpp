#include "oap/core/csv_event_reader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace oap {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<Event> read_all(CsvEventReader& reader) {
  std::vector<Event> out;
  while (auto e = reader.next()) out.push_back(std::move(*e));
  return out;
}

// The ParseError reading text raises (empty message if none).
std::string error_of(const std::string& text, CsvEventOptions columns = {},
                     EventReaderOptions options = {}) {
  std::istringstream in(text);
  try {
    CsvEventReader r(in, "t.csv", columns, options);
    read_all(r);
  } catch (const ParseError& e) {
    return e.what();
  }
  return "";
}

TEST(CsvEventReader, RowsBecomeEvents) {
  std::istringstream in(
      "timestamp,b,user,a\n"
      "2024-01-01T00:00:00Z, 10 ,u1,1\n"
      "1704067260,500,u2,-7.5\n"
      "\n"
      "2015-02-26 21:42:53,+2e1,u1,3\n");
  CsvEventReader r(in, "t.csv");
  EXPECT_THAT(r.feature_names(), ElementsAre("b", "a"));
  auto events = read_all(r);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].user, "u1");
  EXPECT_EQ(format_rfc3339(events[0].timestamp), "2024-01-01T00:00:00.000000Z");
  EXPECT_EQ(events[0].features, (std::vector<float>{10, 1}));
  EXPECT_EQ(events[1].user, "u2");
  EXPECT_EQ(format_rfc3339(events[1].timestamp), "2024-01-01T00:01:00.000000Z");
  EXPECT_EQ(events[1].features, (std::vector<float>{500, -7.5f}));
  // The space-separated form without a zone (pandas, spreadsheets) is read as UTC.
  EXPECT_EQ(format_rfc3339(events[2].timestamp), "2015-02-26T21:42:53.000000Z");
  EXPECT_EQ(events[2].features, (std::vector<float>{20, 3}));
  EXPECT_EQ(events[2].text, "");
  EXPECT_EQ(events[2].meta, nlohmann::json::object());
  EXPECT_EQ(r.line(), 5u);
  EXPECT_EQ(r.events_read(), 3u);
}

TEST(CsvEventReader, NaiveTimesAreReadInTheConfiguredZone) {
  std::istringstream in("when,x\n2015-02-26 21:42:53,1\n2015-02-26T21:42:53+01:00,2\n0,3\n");
  CsvEventOptions columns;
  columns.timestamp_column = "when";
  columns.user = "alice";
  EventReaderOptions options;
  options.timezone = UtcOffset{-8 * 60};
  CsvEventReader r(in, "t.csv", columns, options);
  auto events = read_all(r);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].user, "alice");
  EXPECT_EQ(format_rfc3339(events[0].timestamp), "2015-02-27T05:42:53.000000Z");
  // An explicit zone, or seconds since the epoch, are not affected.
  EXPECT_EQ(format_rfc3339(events[1].timestamp), "2015-02-26T20:42:53.000000Z");
  EXPECT_EQ(to_micros(events[2].timestamp), 0);
}

TEST(CsvEventReader, ColumnsOptionPicksAndOrdersFeatures) {
  std::istringstream in("timestamp,user,a,b,c\n0,u,1,2,3\n");
  CsvEventOptions columns;
  columns.columns = {"c", "a"};
  CsvEventReader r(in, "t.csv", columns);
  auto e = r.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->features, (std::vector<float>{3, 1}));
  EXPECT_THAT(error_of("timestamp,x\n0,1\n", columns),
              HasSubstr("t.csv:1: field 'c': no feature column \"c\" in the header"));
}

TEST(CsvEventReader, BadCellsNameLineAndColumn) {
  EXPECT_THAT(error_of("timestamp,x\n0,1\n1,abc\n"),
              HasSubstr("t.csv:3: field 'x': not a finite number: \"abc\""));
  EXPECT_THAT(error_of("timestamp,x\n0,nan\n"),
              HasSubstr("t.csv:2: field 'x': not a finite number: \"nan\""));
  EXPECT_THAT(error_of("timestamp,x\n0,0.7x\n"), HasSubstr("not a finite number: \"0.7x\""));
  EXPECT_THAT(error_of("timestamp,x\n0,1e39\n"), HasSubstr("outside the float range"));
  EXPECT_THAT(error_of("timestamp,x\n0,\n"), HasSubstr("not a finite number: \"\""));
  for (const char* bad : {"2015-02-30 00:00:00", "2015-2-3 00:00:00", "2015-02-26 25:00",
                          "2015-02-26 21:42:53 junk", "2015-02-26", "yesterday"}) {
    auto e = error_of(std::string("timestamp,x\n") + bad + ",1\n");
    EXPECT_THAT(
        e, HasSubstr("t.csv:2: field 'timestamp': not a timestamp: \"" + std::string(bad) + "\""));
    EXPECT_THAT(e, HasSubstr("YYYY-MM-DD HH:MM[:SS[.fraction]]"));
  }
  EXPECT_THAT(error_of("timestamp,user,x\n0,,1\n"),
              HasSubstr("t.csv:2: field 'user': invalid user id: empty"));
  EXPECT_THAT(error_of("timestamp,x\n0,1,2\n"), HasSubstr("t.csv:2: expected 2 fields"));
}

TEST(CsvEventReader, HeaderProblemsAreErrorsInEitherMode) {
  EventReaderOptions skip;
  skip.on_bad_line = OnBadLine::kSkip;
  EXPECT_THAT(error_of("when,x\n0,1\n", {}, skip),
              HasSubstr("t.csv:1: field 'timestamp': no timestamp column \"timestamp\""));
  EXPECT_THAT(error_of("timestamp,user\n0,u\n", {}, skip), HasSubstr("no feature columns"));
  EXPECT_THAT(error_of("timestamp,x\n", {}, skip), HasSubstr("no data rows"));
  EXPECT_THAT(error_of("", {}, skip), HasSubstr("no header row"));
}

TEST(CsvEventReader, SkipModeReportsBadRowsAndGoesOn) {
  std::istringstream in("timestamp,x\n0,1\n1,abc\n2,1,2\nnever,3\n4,5\n");
  EventReaderOptions options;
  options.on_bad_line = OnBadLine::kSkip;
  CsvEventReader r(in, "t.csv", {}, options);
  std::vector<std::pair<std::size_t, std::string>> reported;
  r.set_on_bad_line([&](const ParseError& e) { reported.emplace_back(e.line(), e.field()); });
  auto events = read_all(r);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].features, (std::vector<float>{5}));
  EXPECT_THAT(reported, ElementsAre(std::make_pair(std::size_t{3}, std::string("x")),
                                    std::make_pair(std::size_t{4}, std::string("")),
                                    std::make_pair(std::size_t{5}, std::string("timestamp"))));
  EXPECT_EQ(r.bad_rows(), 3u);
}

TEST(CsvEventOptions, JsonRoundTripAndErrors) {
  CsvEventOptions o;
  o.timestamp_column = "when";
  o.columns = {"a", "b"};
  nlohmann::json j = o;
  auto back = j.get<CsvEventOptions>();
  EXPECT_EQ(back.timestamp_column, "when");
  EXPECT_EQ(back.columns, o.columns);
  EXPECT_EQ(nlohmann::json(back), j);
  EXPECT_THAT(
      [] {
        nlohmann::json({{"colums", {"a"}}}).get<CsvEventOptions>();
      },
      ::testing::ThrowsMessage<ConfigError>(HasSubstr("csv: unknown key(s) \"colums\"")));
  EXPECT_THAT(
      [] {
        nlohmann::json({{"columns", {"a", "a"}}}).get<CsvEventOptions>();
      },
      ::testing::ThrowsMessage<ConfigError>(HasSubstr("listed twice")));
  EXPECT_THAT(
      [] {
        nlohmann::json({{"user", ""}}).get<CsvEventOptions>();
      },
      ::testing::ThrowsMessage<ConfigError>(HasSubstr("csv.user: invalid user id")));
  EXPECT_THAT(
      [] {
        nlohmann::json({{"columns", "a,b"}}).get<CsvEventOptions>();
      },
      ::testing::ThrowsMessage<ConfigError>(HasSubstr("csv.columns")));
}

}  // namespace
}  // namespace oap
