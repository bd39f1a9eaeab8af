#include "oap/store/memory_store.hpp"

#include <gtest/gtest.h>

#include "oap/core/error.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using testing::make_event;

TEST(MemoryStore, KeepsAtMostMaxEventsPerUserDroppingTheOldest) {
  StoreOptions options;
  options.max_events_per_user = 5;
  MemoryStore store(options);
  for (int i = 0; i < 12; ++i) store.append(make_event("u", i));
  EXPECT_EQ(store.count("u"), 5u);
  auto all = store.recent("u", 100);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all.front(), make_event("u", 7));
  EXPECT_EQ(all.back(), make_event("u", 11));
  // An event older than everything held is dropped at once.
  store.append(make_event("u", -5));
  EXPECT_EQ(store.recent("u", 100).front(), make_event("u", 7));
}

TEST(MemoryStore, OneShardStillWorks) {
  StoreOptions options;
  options.shards = 1;
  MemoryStore store(options);
  store.append(make_event("a", 0));
  store.append(make_event("b", 0));
  EXPECT_EQ(store.users().size(), 2u);
}

TEST(MemoryStore, InvalidOptionsAreRejected) {
  StoreOptions options;
  options.shards = 0;
  EXPECT_THROW(MemoryStore{options}, ConfigError);
  options.shards = 1;
  options.max_events_per_user = 0;
  EXPECT_THROW(MemoryStore{options}, ConfigError);
}

}  // namespace
}  // namespace oap
