// The packed block format SqliteStore keeps events in (src/store/event_block.hpp).
#include "store/event_block.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "oap/core/error.hpp"
#include "test_util.hpp"

namespace oap::detail {
namespace {

using oap::testing::make_event;
using ::testing::HasSubstr;

std::vector<std::uint8_t> encode(const std::vector<Event>& events, std::size_t dim) {
  std::vector<const Event*> ptrs;
  std::vector<std::int64_t> seqs;
  for (std::size_t i = 0; i < events.size(); ++i) {
    ptrs.push_back(&events[i]);
    seqs.push_back(static_cast<std::int64_t>(100 + i));
  }
  std::vector<std::uint8_t> out;
  encode_block(ptrs, seqs, dim, out);
  return out;
}

TEST(EventBlock, RoundTripsEveryField) {
  std::vector<Event> events;
  for (int i = 0; i < 5; ++i) events.push_back(make_event("u", i, 3));  // i = 0, 3 carry meta
  events[1].text = std::string("nul \0 inside and caf\xC3\xA9", 24);
  events[2].text.clear();
  auto block = encode(events, 3);
  auto entries = parse_block(block, 3, "test");
  ASSERT_EQ(entries.size(), 5u);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].seq, static_cast<std::int64_t>(100 + i));
    EXPECT_EQ(entries[i].ts, to_micros(events[i].timestamp));
    EXPECT_EQ(materialize(entries[i], "u", 3, "test"), events[i]) << i;
  }
  EXPECT_TRUE(entries[1].meta.empty());  // an empty object takes no bytes
  EXPECT_FALSE(entries[0].meta.empty());
}

TEST(EventBlock, ZeroDimensionAndEmptyBlock) {
  auto block = encode({make_event("u", 1, 0)}, 0);
  auto entries = parse_block(block, 0, "test");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(materialize(entries[0], "u", 0, "test"), make_event("u", 1, 0));
  EXPECT_TRUE(parse_block(encode({}, 4), 4, "test").empty());
}

TEST(EventBlock, CorruptBlocksAreRefusedNotReadPastTheEnd) {
  const auto block = encode({make_event("u", 1, 4), make_event("u", 2, 4)}, 4);
  const auto fails = [](std::vector<std::uint8_t> bytes, std::size_t dim, const char* why) {
    try {
      parse_block(bytes, dim, "db.sqlite");
      ADD_FAILURE() << "accepted a block with " << why;
    } catch (const StoreError& e) {
      EXPECT_THAT(e.what(), HasSubstr("db.sqlite: corrupt event block")) << why;
    }
  };
  fails({1, 2, 3}, 4, "no header");
  fails(block, 5, "another dimension");
  for (std::size_t cut = 8; cut < block.size(); cut += 5) {
    fails(std::vector<std::uint8_t>(block.begin(), block.begin() + static_cast<long>(cut)), 4,
          "a truncated tail");
  }
  auto extra = block;
  extra.push_back(0);
  fails(extra, 4, "a trailing byte");
  auto many = block;
  const std::uint32_t huge = 0xFFFFFFFFu;
  std::memcpy(many.data(), &huge, 4);
  fails(many, 4, "a count that cannot fit");
  auto long_text = block;
  std::memcpy(long_text.data() + 8 + 16, &huge, 4);  // first event's text length
  fails(long_text, 4, "a text length past the end");
}

TEST(EventBlock, InboxBatchesMixUsersAndDimensions) {
  std::vector<Event> events = {make_event("a", 1, 3), make_event("b", 2, 0), make_event("a", 3, 3),
                               make_event("c", 4, 7)};
  std::vector<std::int64_t> ids = {11, 12, 11, 13};
  std::vector<std::uint8_t> batch;
  encode_batch(events, ids, 500, batch);
  auto entries = parse_batch(batch, "test");
  ASSERT_EQ(entries.size(), 4u);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].user_id, ids[i]);
    EXPECT_EQ(entries[i].dim, events[i].features.size());
    EXPECT_EQ(entries[i].entry.seq, static_cast<std::int64_t>(500 + i));
    EXPECT_EQ(materialize(entries[i].entry, events[i].user, entries[i].dim, "test"), events[i]);
  }
  // Every truncation, a trailing byte and an absurd feature count are refused.
  for (std::size_t cut = 0; cut < batch.size(); cut += 3) {
    EXPECT_THROW(parse_batch(std::span(batch.data(), cut), "test"), StoreError) << cut;
  }
  auto extra = batch;
  extra.push_back(1);
  EXPECT_THROW(parse_batch(extra, "test"), StoreError);
  auto wide = batch;
  const std::uint32_t huge_dim = 1u << 30;
  std::memcpy(wide.data() + 4 + 8, &huge_dim, 4);  // first event's dim
  try {
    parse_batch(wide, "db.sqlite");
    ADD_FAILURE() << "accepted a huge dimension";
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("db.sqlite: corrupt inbox batch"));
  }
}

TEST(EventBlock, CorruptMetaIsAStoreError) {
  Event e = make_event("u", 3, 2);  // has meta
  auto block = encode({e}, 2);
  auto entries = parse_block(block, 2, "test");
  ASSERT_FALSE(entries[0].meta.empty());
  block[block.size() - 1] = '!';  // the meta's closing brace
  entries = parse_block(block, 2, "test");
  EXPECT_THROW(materialize(entries[0], "u", 2, "test"), StoreError);
}

}  // namespace
}  // namespace oap::detail
