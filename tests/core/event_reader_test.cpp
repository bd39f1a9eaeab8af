#include "oap/core/event_reader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

namespace oap {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::vector<Event> read_all(EventReader& reader) {
  std::vector<Event> out;
  while (auto e = reader.next()) out.push_back(std::move(*e));
  return out;
}

const char* kMixed =
    "{\"user\":\"a\",\"timestamp\":1,\"features\":[1,2]}\n"
    "{\"user\":\"a\",\"timestamp\":2,\"features\":[1,\"x\"]}\n"
    "\n"
    "{not json\n"
    "{\"user\":\"b\",\"timestamp\":3,\"features\":[5]}\n"
    "{\"user\":\"a\",\"timestamp\":4,\"features\":[1,2,3]}\n"
    "{\"user\":\"a\",\"timestamp\":5,\"features\":[3,4]}\r\n";

TEST(EventReader, FailModeReturnsGoodLinesThenThrowsAtBadLine) {
  std::istringstream in(kMixed);
  EventReader reader(in, "mixed.jsonl");
  auto first = reader.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->features, (std::vector<float>{1, 2}));
  try {
    reader.next();
    FAIL() << "bad line accepted";
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line(), 2u);
    EXPECT_EQ(e.field(), "features[1]");
    EXPECT_THAT(e.what(), HasSubstr("mixed.jsonl:2: field 'features[1]': not a number"));
  }
}

TEST(EventReader, SkipModeReportsEveryBadLineAndKeepsTheGoodOnes) {
  std::istringstream in(kMixed);
  EventReaderOptions options;
  options.on_bad_line = OnBadLine::kSkip;
  EventReader reader(in, "mixed.jsonl", options);
  std::vector<std::pair<std::size_t, std::string>> reported;
  reader.set_on_bad_line([&](const ParseError& e) { reported.emplace_back(e.line(), e.field()); });
  auto events = read_all(reader);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(to_micros(events[0].timestamp), 1000000);
  EXPECT_EQ(events[1].user, "b");
  EXPECT_EQ(to_micros(events[2].timestamp), 5000000);  // CRLF line accepted
  ASSERT_EQ(reported.size(), 3u);
  EXPECT_EQ(reported[0], std::make_pair(std::size_t{2}, std::string("features[1]")));
  EXPECT_EQ(reported[1], std::make_pair(std::size_t{4}, std::string("")));
  EXPECT_EQ(reported[2], std::make_pair(std::size_t{6}, std::string("features")));
  EXPECT_EQ(reader.bad_lines(), 3u);
  EXPECT_EQ(reader.events_read(), 3u);
  EXPECT_EQ(reader.lines_read(), 7u);
}

TEST(EventReader, WrongFeatureCountNamesBothCounts) {
  std::istringstream in(
      "{\"user\":\"a\",\"timestamp\":1,\"features\":[1,2]}\n"
      "{\"user\":\"a\",\"timestamp\":2,\"features\":[1]}\n");
  EventReader reader(in, "dims.jsonl");
  reader.next();
  try {
    reader.next();
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line(), 2u);
    EXPECT_THAT(e.what(), HasSubstr("user \"a\" has 2 features, this event has 1"));
  }
}

TEST(EventReader, ExpectDimensionSeedsKnownUsers) {
  std::istringstream in("{\"user\":\"a\",\"timestamp\":1,\"features\":[1,2]}\n");
  EventReader reader(in, "x");
  reader.expect_dimension("a", 3);
  EXPECT_THROW(reader.next(), ParseError);
}

TEST(EventReader, MalformedJsonIsReportedWithLine) {
  std::istringstream in("{\"user\":\"a\",\"timestamp\":1}\n{\"user\": \n");
  EventReader reader(in, "m.jsonl");
  reader.next();
  try {
    reader.next();
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line(), 2u);
    EXPECT_THAT(e.what(), HasSubstr("m.jsonl:2: malformed JSON"));
  }
}

TEST(EventReader, NumberOverflowIsABadLineNotACrash) {
  std::istringstream in(
      "{\"user\":\"a\",\"timestamp\":1,\"features\":[1e400]}\n"
      "{\"user\":\"a\",\"timestamp\":2,\"features\":[1]}\n");
  EventReaderOptions options;
  options.on_bad_line = OnBadLine::kSkip;
  EventReader reader(in, "big.jsonl", options);
  std::string reason;
  reader.set_on_bad_line([&](const ParseError& e) { reason = e.what(); });
  EXPECT_EQ(read_all(reader).size(), 1u);
  EXPECT_THAT(reason, HasSubstr("big.jsonl:1: malformed JSON"));
  EXPECT_THAT(reason, HasSubstr("number overflow"));
}

TEST(EventReader, EmptyInputIsAnErrorInBothModes) {
  for (auto mode : {OnBadLine::kFail, OnBadLine::kSkip}) {
    for (const char* text : {"", "\n  \n\t\n"}) {
      std::istringstream in(text);
      EventReaderOptions options;
      options.on_bad_line = mode;
      EventReader reader(in, "empty.jsonl", options);
      try {
        reader.next();
        FAIL() << "empty input accepted";
      } catch (const ParseError& e) {
        EXPECT_THAT(e.what(), HasSubstr("empty.jsonl: no events: the input is empty"));
      }
    }
  }
}

TEST(EventReader, OverlongLineIsABadLine) {
  std::string big = "{\"user\":\"a\",\"timestamp\":1,\"text\":\"" + std::string(200, 'x') + "\"}\n";
  std::istringstream in(big + "{\"user\":\"a\",\"timestamp\":2}\n");
  EventReaderOptions options;
  options.on_bad_line = OnBadLine::kSkip;
  options.max_line_bytes = 100;
  EventReader reader(in, "long.jsonl", options);
  std::string reason;
  reader.set_on_bad_line([&](const ParseError& e) { reason = e.what(); });
  auto events = read_all(reader);
  EXPECT_EQ(events.size(), 1u);
  EXPECT_THAT(reason, HasSubstr("long.jsonl:1: line too long"));
}

TEST(EventReaderOptions, JsonRoundTripAndErrors) {
  EventReaderOptions o;
  o.on_bad_line = OnBadLine::kSkip;
  o.max_line_bytes = 77;
  nlohmann::json j = o;
  auto back = j.get<EventReaderOptions>();
  EXPECT_EQ(back.on_bad_line, OnBadLine::kSkip);
  EXPECT_EQ(back.max_line_bytes, 77u);
  EXPECT_THROW(nlohmann::json({{"on_bad_line", "ignore"}}).get<EventReaderOptions>(), ConfigError);
  EXPECT_THROW(nlohmann::json({{"max_line_bytes", 0}}).get<EventReaderOptions>(), ConfigError);
}

TEST(EventReaderOptions, TimezoneRoundTripsAndRefusesNamedZones) {
  EventReaderOptions o;
  EXPECT_EQ(nlohmann::json(o)["timezone"], "UTC");
  o.timezone = UtcOffset{-8 * 60};
  nlohmann::json j = o;
  EXPECT_EQ(j["timezone"], "-08:00");
  EXPECT_EQ(j.get<EventReaderOptions>().timezone, o.timezone);
  EXPECT_EQ(nlohmann::json({{"timezone", "+0530"}}).get<EventReaderOptions>().timezone,
            UtcOffset{330});
  EXPECT_THAT(
      [] {
        nlohmann::json({{"timezone", "Europe/Paris"}}).get<EventReaderOptions>();
      },
      ::testing::ThrowsMessage<ConfigError>(
          AllOf(HasSubstr("events.timezone: expected \"UTC\" or a fixed offset such as "
                          "\"+05:30\""),
                HasSubstr("got \"Europe/Paris\""))));
  EXPECT_THAT(
      [] {
        nlohmann::json({{"timezone", 5}}).get<EventReaderOptions>();
      },
      ::testing::ThrowsMessage<ConfigError>(HasSubstr("events.timezone: expected a string")));
}

TEST(EventReader, NaiveDateTimesUseTheConfiguredZone) {
  const char* text =
      "{\"user\":\"a\",\"timestamp\":\"2015-02-26 21:42:53\"}\n"
      "{\"user\":\"a\",\"timestamp\":\"2015-02-26T21:42:53Z\"}\n";
  std::istringstream utc_in(text);
  EventReader utc(utc_in, "t.jsonl");
  auto events = read_all(utc);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].timestamp, events[1].timestamp);
  EXPECT_EQ(format_rfc3339(events[0].timestamp), "2015-02-26T21:42:53.000000Z");

  std::istringstream india_in(text);
  EventReaderOptions options;
  options.timezone = UtcOffset{330};
  EventReader india(india_in, "t.jsonl", options);
  events = read_all(india);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(format_rfc3339(events[0].timestamp), "2015-02-26T16:12:53.000000Z");
  EXPECT_EQ(format_rfc3339(events[1].timestamp), "2015-02-26T21:42:53.000000Z");
}

TEST(EventReader, BadDateTimeNamesTheValueAndTheForms) {
  std::istringstream in("{\"user\":\"a\",\"timestamp\":\"2015-02-30 00:00:00\"}\n");
  EventReader reader(in, "t.jsonl");
  EXPECT_THAT(
      [&] { reader.next(); },
      ::testing::ThrowsMessage<ParseError>(
          AllOf(HasSubstr("t.jsonl:1: field 'timestamp': not a timestamp: \"2015-02-30 00:00:00\""),
                HasSubstr(kDateTimeForms))));
}

}  // namespace
}  // namespace oap
