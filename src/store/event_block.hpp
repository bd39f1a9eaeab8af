#pragma once
// Private to SqliteStore: the packed form of a run of one user's events (a "block"), which is
// what the events table stores per row, so that a store move writes one row per user instead
// of one per event and recent() reads a few rows instead of a hundred.
//
// Layout (little-endian): u32 count, u32 dim, then per event, in (ts, seq) order:
//   i64 ts (microseconds), i64 seq, u32 text bytes, u32 meta bytes,
//   f32 features[dim], text, meta (JSON text; 0 bytes for an empty object).
//
// The inbox keeps one committed batch per row in a second, mixed-user form ("batch"):
//   u32 count, then per event in append order: i64 user id, u32 dim, and the entry as above.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "oap/core/event.hpp"

namespace oap::detail {

// One event inside a block: its key, and views into the block's bytes.
struct BlockEntry {
  std::int64_t ts = 0;  // microseconds since the epoch
  std::int64_t seq = 0;
  const std::uint8_t* features = nullptr;  // dim little-endian f32 values, unaligned
  std::string_view text;
  std::string_view meta;  // empty: an empty JSON object

  bool key_less(const BlockEntry& o) const { return ts != o.ts ? ts < o.ts : seq < o.seq; }
};

// Appends the block of events (all of one user, dimension dim, sorted by (ts, seq); seqs[i]
// is events[i]'s sequence number) to out.
void encode_block(std::span<const Event* const> events, std::span<const std::int64_t> seqs,
                  std::size_t dim, std::vector<std::uint8_t>& out);

// Parses a block into entries pointing into data (which must outlive them). Checks every
// length against the buffer and the dimension: a corrupt block is a StoreError naming `where`,
// never an out-of-bounds read.
std::vector<BlockEntry> parse_block(std::span<const std::uint8_t> data, std::size_t dim,
                                    const std::string& where);

// One event of an inbox batch.
struct BatchEntry {
  std::int64_t user_id = 0;
  std::size_t dim = 0;
  BlockEntry entry;
};

// Appends the batch of events (any users; user_ids[i] is events[i]'s, whose sequence number is
// first_seq + i) to out.
void encode_batch(std::span<const Event> events, std::span<const std::int64_t> user_ids,
                  std::int64_t first_seq, std::vector<std::uint8_t>& out);

// Parses an inbox batch, with the same checks as parse_block (dim at most kMaxFeatures).
std::vector<BatchEntry> parse_batch(std::span<const std::uint8_t> data, const std::string& where);

// The Event an entry describes (parses its meta JSON; StoreError naming `where` if corrupt).
Event materialize(const BlockEntry& entry, const UserId& user, std::size_t dim,
                  const std::string& where);

}  // namespace oap::detail
