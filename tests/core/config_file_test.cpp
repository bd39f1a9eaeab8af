#include "oap/core/config_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "oap/core/csv_event_reader.hpp"
#include "oap/core/event_reader.hpp"
#include "oap/core/logging.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(ConfigFile, ReadsSectionsAndDefaultsAbsentOnes) {
  testing::TempDir dir;
  testing::write_file(dir / "c.json",
                      R"({"log": {"level": "warn"}, "events": {"timezone": "+05:30"},
                          "model": {"anything": "is not read here"}})");
  auto config = ConfigFile::load(dir / "c.json");
  EXPECT_EQ(config.source(), (dir / "c.json").string());
  EXPECT_TRUE(config.has("log"));
  EXPECT_FALSE(config.has("csv"));
  EXPECT_EQ(config.get<LogOptions>("log").level, "warn");
  EXPECT_EQ(config.get<EventReaderOptions>("events").timezone, UtcOffset{330});
  EXPECT_EQ(config.get<CsvEventOptions>("csv").timestamp_column, "timestamp");
  EXPECT_EQ(ConfigFile().get<LogOptions>("log").level, "info");
}

TEST(ConfigFile, ReadsASectionOverTheCallersDefaults) {
  CsvEventOptions defaults;
  defaults.timestamp_column = "when";
  defaults.user = "alice";
  const ConfigFile config(nlohmann::json::parse(R"({"csv": {"user": "bob"}})"), "c.json");
  const auto o = config.get<CsvEventOptions>("csv", defaults);
  EXPECT_EQ(o.user, "bob");               // from the section
  EXPECT_EQ(o.timestamp_column, "when");  // left out there: the caller's default
  EXPECT_EQ(ConfigFile().get<CsvEventOptions>("csv", defaults).user, "alice");
}

TEST(ConfigFile, UnknownSectionsAreErrors) {
  EXPECT_THAT(
      [] {
        ConfigFile(nlohmann::json({{"stor", {}}}), "c.json");
      },
      ::testing::ThrowsMessage<ConfigError>(
          AllOf(HasSubstr("c.json: unknown key(s) \"stor\""), HasSubstr("store"))));
  // A section-less detector configuration (the old `oap detect --config` form) says what to do.
  EXPECT_THAT(
      [] {
        ConfigFile(nlohmann::json({{"detectors", {}}, {"min_history", 3}}), "d.json");
      },
      ::testing::ThrowsMessage<ConfigError>(
          AllOf(HasSubstr("\"detectors\", \"min_history\""), HasSubstr("{\"detect\":"))));
  EXPECT_THAT([] { ConfigFile(nlohmann::json::array(), "c.json"); },
              ::testing::ThrowsMessage<ConfigError>(HasSubstr("expected a JSON object")));
  EXPECT_THAT([] { ConfigFile().get<LogOptions>("logs"); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("not a configuration section")));
}

TEST(ConfigFile, SectionErrorsComeFromTheOptionsStruct) {
  ConfigFile config(nlohmann::json{{"events", {{"timezone", "Europe/Paris"}}}}, "c.json");
  EXPECT_THAT([&] { config.get<EventReaderOptions>("events"); },
              ::testing::ThrowsMessage<ConfigError>(
                  HasSubstr("events.timezone: expected \"UTC\" or a fixed offset")));
}

}  // namespace
}  // namespace oap
