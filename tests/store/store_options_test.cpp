#include "oap/store/store_options.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "oap/core/error.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;

TEST(StoreOptions, JsonRoundTrip) {
  StoreOptions o;
  o.shards = 3;
  o.max_events_per_user = 9;
  o.durability = Durability::kEveryAppend;
  o.batch_size = 17;
  o.inbox_events = 5;
  o.read_connections = 2;
  o.sync_full = true;
  o.cache_mib = 8;
  o.busy_timeout_ms = 10;
  nlohmann::json j = o;
  auto back = j.get<StoreOptions>();
  EXPECT_EQ(nlohmann::json(back), j);
  EXPECT_EQ(back.durability, Durability::kEveryAppend);
}

TEST(StoreOptions, MissingFieldsKeepDefaults) {
  auto o = nlohmann::json({{"batch_size", 5}}).get<StoreOptions>();
  EXPECT_EQ(o.batch_size, 5u);
  EXPECT_EQ(o.shards, StoreOptions{}.shards);
}

TEST(StoreOptions, BadValuesNameTheField) {
  try {
    nlohmann::json({{"durability", "sometimes"}}).get<StoreOptions>();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("store.durability must be \"every_append\" or \"batched\""));
  }
  try {
    nlohmann::json({{"batch_size", 0}}).get<StoreOptions>();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("store.batch_size must be >= 1"));
  }
  EXPECT_THROW(nlohmann::json({{"batch_size", -3}}).get<StoreOptions>(), ConfigError);
  EXPECT_THROW(nlohmann::json({{"shard", 2}}).get<StoreOptions>(), ConfigError);
}

}  // namespace
}  // namespace oap
