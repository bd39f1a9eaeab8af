#include "oap/adapt/adapter_store_options.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "oap/core/error.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;

TEST(AdapterStoreOptions, DefaultsAndJsonRoundTrip) {
  AdapterStoreOptions o;
  EXPECT_EQ(o.keep_versions, 5u);
  o.keep_versions = 2;
  nlohmann::json j = o;
  EXPECT_EQ(j, nlohmann::json({{"keep_versions", 2}}));
  EXPECT_EQ(j.get<AdapterStoreOptions>().keep_versions, 2u);
  EXPECT_EQ(nlohmann::json::object().get<AdapterStoreOptions>().keep_versions, 5u);
}

TEST(AdapterStoreOptions, BadValuesAreNamed) {
  try {
    nlohmann::json({{"keep_versions", 0}}).get<AdapterStoreOptions>();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("adapter_store.keep_versions must be >= 1, got 0"));
  }
  try {
    nlohmann::json({{"keep_version", 3}}).get<AdapterStoreOptions>();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("adapter_store: unknown key(s) \"keep_version\""));
  }
  try {
    nlohmann::json({{"keep_versions", -1}}).get<AdapterStoreOptions>();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("adapter_store.keep_versions"));
  }
}

}  // namespace
}  // namespace oap
