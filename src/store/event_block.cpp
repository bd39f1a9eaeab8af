#include "store/event_block.hpp"

#include <cstring>

#include "oap/core/error.hpp"

namespace oap::detail {
namespace {

constexpr std::size_t kHeaderBytes = 8;
constexpr std::size_t kEntryHeaderBytes = 24;

template <typename T>
void put(std::vector<std::uint8_t>& out, T v) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

template <typename T>
T get(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Appends one entry (the per-event layout shared by blocks and batches).
void put_entry(std::vector<std::uint8_t>& out, const Event& e, std::int64_t seq, std::size_t dim,
               std::string& meta_text) {
  meta_text = e.meta.empty() ? std::string() : e.meta.dump();
  put(out, to_micros(e.timestamp));
  put(out, seq);
  put(out, static_cast<std::uint32_t>(e.text.size()));
  put(out, static_cast<std::uint32_t>(meta_text.size()));
  const auto* f = reinterpret_cast<const std::uint8_t*>(e.features.data());
  out.insert(out.end(), f, f + dim * sizeof(float));
  out.insert(out.end(), e.text.begin(), e.text.end());
  out.insert(out.end(), meta_text.begin(), meta_text.end());
}

// Reads the entry at data[pos...] into e and advances pos; corrupt(what) throws.
template <typename Corrupt>
void take_entry(std::span<const std::uint8_t> data, std::size_t& pos, std::size_t dim,
                std::size_t index, BlockEntry& e, const Corrupt& corrupt) {
  const std::size_t feature_bytes = dim * sizeof(float);
  if (data.size() - pos < kEntryHeaderBytes + feature_bytes) {
    corrupt("event " + std::to_string(index) + " runs past the end");
  }
  const std::uint8_t* p = data.data() + pos;
  e.ts = get<std::int64_t>(p);
  e.seq = get<std::int64_t>(p + 8);
  const auto text_bytes = get<std::uint32_t>(p + 16);
  const auto meta_bytes = get<std::uint32_t>(p + 20);
  pos += kEntryHeaderBytes;
  e.features = data.data() + pos;
  pos += feature_bytes;
  if (data.size() - pos < static_cast<std::size_t>(text_bytes) + meta_bytes) {
    corrupt("text or meta of event " + std::to_string(index) + " runs past the end");
  }
  e.text = std::string_view(reinterpret_cast<const char*>(data.data() + pos), text_bytes);
  pos += text_bytes;
  e.meta = std::string_view(reinterpret_cast<const char*>(data.data() + pos), meta_bytes);
  pos += meta_bytes;
}

}  // namespace

void encode_block(std::span<const Event* const> events, std::span<const std::int64_t> seqs,
                  std::size_t dim, std::vector<std::uint8_t>& out) {
  put(out, static_cast<std::uint32_t>(events.size()));
  put(out, static_cast<std::uint32_t>(dim));
  std::string meta_text;
  for (std::size_t i = 0; i < events.size(); ++i)
    put_entry(out, *events[i], seqs[i], dim, meta_text);
}

std::vector<BlockEntry> parse_block(std::span<const std::uint8_t> data, std::size_t dim,
                                    const std::string& where) {
  const auto corrupt = [&](const std::string& what) {
    OAP_THROW(StoreError, where + ": corrupt event block (" + what + ")");
  };
  if (data.size() < kHeaderBytes) corrupt(std::to_string(data.size()) + " bytes, no header");
  const auto count = get<std::uint32_t>(data.data());
  const auto block_dim = get<std::uint32_t>(data.data() + 4);
  if (block_dim != dim) {
    corrupt("dimension " + std::to_string(block_dim) + ", the user's is " + std::to_string(dim));
  }
  const std::size_t feature_bytes = dim * sizeof(float);
  // Every entry takes at least its header and features, which bounds count by the size.
  if (count > (data.size() - kHeaderBytes) / (kEntryHeaderBytes + feature_bytes)) {
    corrupt(std::to_string(count) + " events cannot fit in " + std::to_string(data.size()) +
            " bytes");
  }
  std::vector<BlockEntry> out(count);
  std::size_t pos = kHeaderBytes;
  for (std::uint32_t i = 0; i < count; ++i) take_entry(data, pos, dim, i, out[i], corrupt);
  if (pos != data.size()) corrupt(std::to_string(data.size() - pos) + " trailing bytes");
  return out;
}

void encode_batch(std::span<const Event> events, std::span<const std::int64_t> user_ids,
                  std::int64_t first_seq, std::vector<std::uint8_t>& out) {
  put(out, static_cast<std::uint32_t>(events.size()));
  std::string meta_text;
  for (std::size_t i = 0; i < events.size(); ++i) {
    put(out, user_ids[i]);
    put(out, static_cast<std::uint32_t>(events[i].features.size()));
    put_entry(out, events[i], first_seq + static_cast<std::int64_t>(i), events[i].features.size(),
              meta_text);
  }
}

std::vector<BatchEntry> parse_batch(std::span<const std::uint8_t> data, const std::string& where) {
  const auto corrupt = [&](const std::string& what) {
    OAP_THROW(StoreError, where + ": corrupt inbox batch (" + what + ")");
  };
  if (data.size() < 4) corrupt(std::to_string(data.size()) + " bytes, no header");
  const auto count = get<std::uint32_t>(data.data());
  constexpr std::size_t kMinEntry = 12 + kEntryHeaderBytes;  // user id, dim, entry header
  if (count > (data.size() - 4) / kMinEntry) {
    corrupt(std::to_string(count) + " events cannot fit in " + std::to_string(data.size()) +
            " bytes");
  }
  std::vector<BatchEntry> out(count);
  std::size_t pos = 4;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (data.size() - pos < 12) corrupt("event " + std::to_string(i) + " runs past the end");
    out[i].user_id = get<std::int64_t>(data.data() + pos);
    out[i].dim = get<std::uint32_t>(data.data() + pos + 8);
    pos += 12;
    if (out[i].dim > kMaxFeatures) {
      corrupt("event " + std::to_string(i) + " claims " + std::to_string(out[i].dim) + " features");
    }
    take_entry(data, pos, out[i].dim, i, out[i].entry, corrupt);
  }
  if (pos != data.size()) corrupt(std::to_string(data.size() - pos) + " trailing bytes");
  return out;
}

Event materialize(const BlockEntry& entry, const UserId& user, std::size_t dim,
                  const std::string& where) {
  Event e;
  e.user = user;
  e.timestamp = timestamp_from_micros(entry.ts);
  e.features.resize(dim);
  if (dim > 0) std::memcpy(e.features.data(), entry.features, dim * sizeof(float));
  e.text.assign(entry.text);
  if (!entry.meta.empty()) {
    try {
      e.meta = nlohmann::json::parse(entry.meta);
    } catch (const nlohmann::json::exception& ex) {
      OAP_THROW(StoreError,
                where + ": corrupt meta of an event of user \"" + user + "\": " + ex.what());
    }
  }
  return e;
}

}  // namespace oap::detail
