// The HistoryStore contract, run against every implementation.

#include "oap/store/history_store.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "oap/core/error.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using testing::make_event;

class HistoryStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<HistoryStore> open(StoreOptions options = {}) {
    if (GetParam() == "memory") return open_store("memory://", options);
    // A tiny inbox makes the store move events into the clustered table all the time.
    if (GetParam() == "sqlite_small_inbox") options.inbox_events = 3;
    return open_store("sqlite://" + (dir_ / "h.db").string(), options);
  }
  testing::TempDir dir_;
};

TEST_P(HistoryStoreTest, AppendAndReadBack) {
  auto store = open();
  for (int i = 0; i < 10; ++i) store->append(make_event("alice", i));
  store->append(make_event("bob", 0, 2));
  EXPECT_EQ(store->count("alice"), 10u);
  EXPECT_EQ(store->count("bob"), 1u);
  EXPECT_EQ(store->count("nobody"), 0u);
  EXPECT_EQ(store->users(), (std::vector<UserId>{"alice", "bob"}));
  EXPECT_EQ(store->dimension("alice"), 4u);
  EXPECT_EQ(store->dimension("bob"), 2u);
  EXPECT_EQ(store->dimension("nobody"), std::nullopt);

  auto last3 = store->recent("alice", 3);
  ASSERT_EQ(last3.size(), 3u);
  EXPECT_EQ(last3[0], make_event("alice", 7));
  EXPECT_EQ(last3[2], make_event("alice", 9));
  EXPECT_EQ(store->recent("alice", 100).size(), 10u);
  EXPECT_TRUE(store->recent("alice", 0).empty());
  EXPECT_TRUE(store->recent("nobody", 5).empty());
}

TEST_P(HistoryStoreTest, RangeIsHalfOpenAndOrdered) {
  auto store = open();
  for (int i = 0; i < 10; ++i) store->append(make_event("u", i));
  Timestamp t2 = make_event("u", 2).timestamp, t5 = make_event("u", 5).timestamp;
  auto r = store->range("u", t2, t5);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0], make_event("u", 2));
  EXPECT_EQ(r[2], make_event("u", 4));
  EXPECT_TRUE(store->range("u", t5, t2).empty());
  EXPECT_TRUE(store->range("nobody", t2, t5).empty());
}

TEST_P(HistoryStoreTest, OutOfOrderTimestampsAreSortedTiesKeepAppendOrder) {
  auto store = open();
  Event late = make_event("u", 5), early = make_event("u", 1);
  Event tie_a = make_event("u", 3), tie_b = make_event("u", 3);
  tie_a.text = "first";
  tie_b.text = "second";
  store->append(late);
  store->append(early);
  store->append(tie_a);
  store->append(tie_b);
  auto all = store->recent("u", 10);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0], early);
  EXPECT_EQ(all[1].text, "first");
  EXPECT_EQ(all[2].text, "second");
  EXPECT_EQ(all[3], late);
  EXPECT_EQ(store->recent("u", 1)[0], late);
}

TEST_P(HistoryStoreTest, WrongDimensionIsRejectedAndBatchIsAllOrNothing) {
  auto store = open();
  store->append(make_event("u", 0, 4));
  try {
    store->append(make_event("u", 1, 3));
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("event of user \"u\" has 3 features, but the user's events have 4"));
  }
  std::vector<Event> batch = {make_event("u", 2), make_event("v", 0, 2), make_event("v", 1, 5)};
  EXPECT_THROW(store->append_batch(batch), InvalidArgument);
  EXPECT_EQ(store->count("u"), 1u);
  EXPECT_EQ(store->count("v"), 0u);
  EXPECT_EQ(store->dimension("v"), std::nullopt);
  // The rejected batch left nothing behind: v can start with another dimension.
  store->append(make_event("v", 0, 7));
  EXPECT_EQ(store->dimension("v"), 7u);
}

TEST_P(HistoryStoreTest, InvalidEventsAreRejected) {
  auto store = open();
  Event nan = make_event("u", 0);
  nan.features[1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(store->append(nan), InvalidArgument);
  Event bad_user = make_event("", 0);
  EXPECT_THROW(store->append(bad_user), InvalidArgument);
  EXPECT_TRUE(store->users().empty());
}

TEST_P(HistoryStoreTest, ForgetRemovesEverythingOfOneUser) {
  auto store = open();
  for (int i = 0; i < 5; ++i) {
    store->append(make_event("a", i));
    store->append(make_event("b", i));
  }
  EXPECT_EQ(store->forget("a"), 5u);
  EXPECT_EQ(store->count("a"), 0u);
  EXPECT_TRUE(store->recent("a", 10).empty());
  EXPECT_EQ(store->dimension("a"), std::nullopt);
  EXPECT_EQ(store->users(), (std::vector<UserId>{"b"}));
  EXPECT_EQ(store->count("b"), 5u);
  EXPECT_EQ(store->forget("a"), 0u);
  store->append(make_event("a", 0, 2));  // a new start, any dimension
  EXPECT_EQ(store->count("a"), 1u);
}

TEST_P(HistoryStoreTest, EmptyFeaturesAndUnicodeSurvive) {
  auto store = open();
  Event e = make_event("Zoë 東京", 0, 0);
  e.text = "naïve — 🙂";
  e.meta = {{"nested", {{"a", nullptr}, {"b", {1.5, "x"}}}}};
  store->append(e);
  auto back = store->recent("Zoë 東京", 1);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0], e);
}

TEST_P(HistoryStoreTest, ConcurrentAppendsAndReads) {
  StoreOptions options;
  options.batch_size = 64;
  auto store = open(options);
  constexpr int kWriters = 4, kPerWriter = 1500, kUsersPerWriter = 5;
  std::atomic<bool> done{false};
  std::atomic<std::size_t> reads{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::vector<Event> batch;
      for (int i = 0; i < kPerWriter; ++i) {
        Event e =
            make_event("w" + std::to_string(w) + "u" + std::to_string(i % kUsersPerWriter), i);
        if (i % 2 == 0) {
          store->append(e);
        } else {
          batch.push_back(e);
          if (batch.size() == 10) {
            store->append_batch(batch);
            batch.clear();
          }
        }
        // Every writer also appends to one shared user.
        if (i % 50 == 0) store->append(make_event("shared", w * kPerWriter + i));
      }
      store->append_batch(batch);
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      do {  // at least once, however fast the writers are
        auto recent = store->recent("shared", 10);
        for (std::size_t k = 1; k < recent.size(); ++k) {
          ASSERT_LE(recent[k - 1].timestamp, recent[k].timestamp);
        }
        store->count("w0u0");
        store->users();
        ++reads;
      } while (!done.load());
    });
  }
  for (int w = 0; w < kWriters; ++w) threads[w].join();
  done = true;
  for (std::size_t t = kWriters; t < threads.size(); ++t) threads[t].join();
  store->flush();
  std::size_t total = 0;
  for (const auto& user : store->users()) total += store->count(user);
  EXPECT_EQ(total, static_cast<std::size_t>(kWriters * kPerWriter + kWriters * (kPerWriter / 50)));
  EXPECT_EQ(store->count("w2u3"), static_cast<std::size_t>(kPerWriter / kUsersPerWriter));
  EXPECT_GT(reads.load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllStores, HistoryStoreTest,
                         ::testing::Values("memory", "sqlite", "sqlite_small_inbox"),
                         [](const auto& info) { return info.param; });

TEST(OpenStore, UnknownOrIncompleteUrisAreRejected) {
  try {
    open_store("redis://localhost");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown store URI \"redis://localhost\""));
  }
  EXPECT_THROW(open_store("sqlite://"), InvalidArgument);
  EXPECT_THROW(open_store("/tmp/x.db"), InvalidArgument);
}

}  // namespace
}  // namespace oap
