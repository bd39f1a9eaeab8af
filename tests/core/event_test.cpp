#include "oap/core/event.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "oap/core/error.hpp"

namespace oap {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// Parses text as JSON and expects event_from_json to throw a ParseError on field whose reason
// contains reason_part.
void expect_bad(const std::string& text, const std::string& field, const std::string& reason_part) {
  SCOPED_TRACE(text);
  try {
    event_from_json(json::parse(text), "in.jsonl", 7);
    FAIL() << "accepted";
  } catch (const ParseError& e) {
    EXPECT_EQ(e.field(), field);
    EXPECT_EQ(e.line(), 7u);
    EXPECT_THAT(e.reason(), HasSubstr(reason_part));
    EXPECT_THAT(e.what(), HasSubstr("in.jsonl:7:"));
  }
}

TEST(Event, FromJsonReadsAllFields) {
  Event e = event_from_json(json::parse(
      R"({"user":"alice","timestamp":"2024-05-01T12:00:00Z","features":[1,2.5,-3e2],"text":"hi","meta":{"k":1}})"));
  EXPECT_EQ(e.user, "alice");
  EXPECT_EQ(format_rfc3339(e.timestamp), "2024-05-01T12:00:00.000000Z");
  EXPECT_EQ(e.features, (std::vector<float>{1.0f, 2.5f, -300.0f}));
  EXPECT_EQ(e.text, "hi");
  EXPECT_EQ(e.meta, json({{"k", 1}}));
}

TEST(Event, TimestampTextAsExportersWriteIt) {
  auto at = [](const char* ts, UtcOffset naive = UtcOffset{0}) {
    return format_rfc3339(
        event_from_json(json{{"user", "a"}, {"timestamp", ts}}, "", 0, naive).timestamp);
  };
  EXPECT_EQ(at("2015-02-26 21:42:53"), "2015-02-26T21:42:53.000000Z");
  EXPECT_EQ(at("2015-02-26 21:42:53", UtcOffset{-480}), "2015-02-27T05:42:53.000000Z");
  EXPECT_EQ(at("2015-02-26 21:42:53+00", UtcOffset{-480}), "2015-02-26T21:42:53.000000Z");
  EXPECT_EQ(at("1424986973"), "2015-02-26T21:42:53.000000Z");
}

TEST(Event, OptionalFieldsDefault) {
  Event e = event_from_json(json::parse(R"({"user":"bob","timestamp":1714564800.5})"));
  EXPECT_TRUE(e.features.empty());
  EXPECT_EQ(e.text, "");
  EXPECT_EQ(e.meta, json::object());
  EXPECT_EQ(to_micros(e.timestamp), 1714564800500000);
}

TEST(Event, JsonRoundTrip) {
  Event e{
      "carol", timestamp_from_micros(123456789), {0.1f, 1e-8f, 3.4e38f}, "tëxt", {{"a", {1, 2}}}};
  Event back = event_from_json(event_to_json(e));
  EXPECT_EQ(back, e);
}

TEST(Event, BadFieldsAreNamed) {
  expect_bad(R"({"timestamp":1})", "user", "missing");
  expect_bad(R"({"user":5,"timestamp":1})", "user", "expected a string");
  expect_bad(R"({"user":"","timestamp":1})", "user", "invalid user id: empty");
  expect_bad(R"({"user":"a"})", "timestamp", "missing");
  expect_bad(R"({"user":"a","timestamp":"yesterday"})", "timestamp",
             "not a timestamp: \"yesterday\" (expected a date-time YYYY-MM-DD HH:MM");
  expect_bad(R"({"user":"a","timestamp":"2015-02-26 21:42:53 junk"})", "timestamp",
             "not a timestamp");
  expect_bad(R"({"user":"a","timestamp":true})", "timestamp",
             "expected a date-time string or seconds since the epoch, got boolean");
  expect_bad(R"({"user":"a","timestamp":1e300})", "timestamp", "out of range");
  expect_bad(R"({"user":"a","timestamp":1,"features":"1,2"})", "features", "expected an array");
  expect_bad(R"({"user":"a","timestamp":1,"features":[1,"2"]})", "features[1]",
             "not a number: string \"2\"");
  expect_bad(R"({"user":"a","timestamp":1,"features":[1,null]})", "features[1]",
             "not a number: null");
  expect_bad(R"({"user":"a","timestamp":1,"features":[1e39]})", "features[0]",
             "outside the float range");
  expect_bad(R"({"user":"a","timestamp":1,"text":3})", "text", "expected a string");
  expect_bad(R"({"user":"a","timestamp":1,"meta":[1]})", "meta", "expected a JSON object");
  expect_bad(R"({"user":"a","timestamp":1,"featurs":[1]})", "featurs", "unknown field");
  expect_bad(R"([1,2])", "", "expected a JSON object");
}

TEST(Event, NonFiniteJsonNumbersAreRejected) {
  // JSON text cannot hold NaN or infinity, but a json value built in code can.
  for (double bad :
       {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    json j = {{"user", "a"}, {"timestamp", 1}, {"features", {1.0, bad}}};
    try {
      event_from_json(j);
      FAIL();
    } catch (const ParseError& e) {
      EXPECT_EQ(e.field(), "features[1]");
      EXPECT_THAT(e.reason(), HasSubstr("not finite"));
    }
  }
}

TEST(Event, ValidateRejectsNonFiniteFeaturesAndBadUsers) {
  Event e{"u", {}, {1.0f, std::numeric_limits<float>::quiet_NaN()}, "", json::object()};
  EXPECT_THROW(
      {
        try {
          validate_event(e);
        } catch (const InvalidArgument& ex) {
          EXPECT_THAT(ex.what(), HasSubstr("features[1] is not finite"));
          throw;
        }
      },
      InvalidArgument);
  e.features = {1.0f, std::numeric_limits<float>::infinity()};
  EXPECT_THROW(validate_event(e), InvalidArgument);
  e.features = {1.0f};
  EXPECT_NO_THROW(validate_event(e));
  e.user = "";
  EXPECT_THROW(validate_event(e), InvalidArgument);
  e.user = "u";
  e.meta = json::array();
  EXPECT_THROW(validate_event(e), InvalidArgument);
}

}  // namespace
}  // namespace oap
