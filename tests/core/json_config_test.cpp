#include "oap/core/json_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;

TEST(LoadJsonFile, ReadsValidJson) {
  testing::TempDir dir;
  testing::write_file(dir / "c.json", R"({"a": 1, "b": [true]})");
  auto j = load_json_file(dir / "c.json");
  EXPECT_EQ(j["a"], 1);
}

TEST(LoadJsonFile, InvalidJsonNamesFileLineAndColumn) {
  testing::TempDir dir;
  testing::write_file(dir / "bad.json", "{\n  \"a\": 1,\n  \"b\": oops\n}\n");
  try {
    load_json_file(dir / "bad.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("bad.json:3:"));
    EXPECT_THAT(e.what(), HasSubstr("invalid JSON"));
  }
}

TEST(LoadJsonFile, MissingFileIsAnIoError) {
  EXPECT_THROW(load_json_file("/nonexistent/oap/config.json"), IoError);
}

TEST(JsonObjectReader, ReadsTypedValuesWithFallbacks) {
  nlohmann::json j = {{"n", 5}, {"x", 1.5}, {"s", "hi"}, {"b", true}};
  JsonObjectReader r(j, "section");
  EXPECT_EQ(r.get<std::size_t>("n", 0), 5u);
  EXPECT_DOUBLE_EQ(r.get<double>("x", 0), 1.5);
  EXPECT_EQ(r.get<std::string>("s", ""), "hi");
  EXPECT_TRUE(r.get<bool>("b", false));
  EXPECT_EQ(r.get<int>("absent", 42), 42);
  EXPECT_NO_THROW(r.finish());
}

TEST(JsonObjectReader, TypeErrorsNameTheFieldPath) {
  nlohmann::json j = {{"n", "five"}, {"neg", -1}, {"flag", 1}};
  JsonObjectReader r(j, "store");
  try {
    r.get<std::size_t>("n", 0);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("store.n: expected a non-negative integer, got string \"five\""));
  }
  EXPECT_THROW(r.get<std::size_t>("neg", 0), ConfigError);
  EXPECT_THROW(r.get<bool>("flag", false), ConfigError);
}

TEST(JsonObjectReader, UnknownKeysAreRejected) {
  nlohmann::json j = {{"batch_size", 1}, {"bacth_size", 2}};
  JsonObjectReader r(j, "store");
  r.get<std::size_t>("batch_size", 0);
  try {
    r.finish();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("store: unknown key(s) \"bacth_size\""));
  }
}

TEST(JsonObjectReader, NonObjectIsRejected) {
  const nlohmann::json array = nlohmann::json::array(), null;
  EXPECT_THROW(JsonObjectReader(array, "log"), ConfigError);
  EXPECT_NO_THROW(JsonObjectReader(null, "log"));
}

TEST(JsonObjectReader, RequiredFieldsAndNumberArrays) {
  nlohmann::json j = {{"n", 3}, {"mean", {1.0, 2.5}}, {"bad", {1, "x"}}, {"obj", {{"k", 1}}}};
  JsonObjectReader r(j, "zscore");
  EXPECT_EQ(r.require<std::uint64_t>("n"), 3u);
  EXPECT_EQ(r.numbers("mean", 2), (std::vector<double>{1.0, 2.5}));
  EXPECT_EQ(r.numbers("mean"), (std::vector<double>{1.0, 2.5}));
  EXPECT_EQ(r.require_raw("obj"), (nlohmann::json{{"k", 1}}));
  EXPECT_THAT([&] { r.require<double>("w"); },
              ::testing::ThrowsMessage<ConfigError>(HasSubstr("zscore.w: missing")));
  EXPECT_THAT([&] { r.require<std::string>("n"); },
              ::testing::ThrowsMessage<ConfigError>(
                  HasSubstr("zscore.n: expected a string, got number 3")));
  EXPECT_THAT(
      [&] { r.numbers("mean", 3); },
      ::testing::ThrowsMessage<ConfigError>(HasSubstr("zscore.mean: expected 3 values, got 2")));
  EXPECT_THAT([&] { r.numbers("bad"); }, ::testing::ThrowsMessage<ConfigError>(
                                             HasSubstr("zscore.bad[1]: expected a finite number")));
  EXPECT_THAT([&] { r.numbers("n"); }, ::testing::ThrowsMessage<ConfigError>(
                                           HasSubstr("zscore.n: expected an array of numbers")));
  r.finish();  // every key was asked for
}

TEST(LoadJsonFile, UnreadableFileNamesTheFile) {
  try {
    load_json_file("/nonexistent/oap/tokenizer.json");
    FAIL();
  } catch (const IoError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot open JSON file /nonexistent/oap/tokenizer.json"));
  }
}

}  // namespace
}  // namespace oap
