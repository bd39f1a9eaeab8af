#include "oap/core/logging.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "oap/core/error.hpp"
#include "oap/store/memory_store.hpp"
#include "oap/store/sqlite_store.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;

TEST(Logging, LogsToTheConfiguredFile) {
  testing::TempDir dir;
  LogOptions options;
  options.level = "debug";
  options.file = (dir / "oap.log").string();
  setup_logging(options);
  {
    // Opening a store logs at debug level through the library's logger.
    SqliteStore store(dir / "s.db");
  }
  setup_logging(LogOptions{});  // back to stderr, closing the file
  std::string text = testing::read_file(dir / "oap.log");
  EXPECT_THAT(text, HasSubstr("[oap] [debug] opened SQLite store"));
}

TEST(LogOptions, ValidatesLevelAndReadsJson) {
  LogOptions bad;
  bad.level = "verbose";
  EXPECT_THROW(bad.validate(), ConfigError);
  EXPECT_THROW(setup_logging(bad), ConfigError);
  auto o = nlohmann::json({{"level", "off"}}).get<LogOptions>();
  EXPECT_EQ(o.level, "off");
  EXPECT_THROW(nlohmann::json({{"lvl", "info"}}).get<LogOptions>(), ConfigError);
}

TEST(Logging, UnwritableFileIsAnIoError) {
  testing::TempDir dir;
  testing::write_file(dir / "plain_file", "x");
  LogOptions options;
  options.file = (dir / "plain_file" / "oap.log").string();  // a file cannot hold a directory
  EXPECT_THROW(setup_logging(options), IoError);
}

}  // namespace
}  // namespace oap
