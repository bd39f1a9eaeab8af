#pragma once
// The merge step of byte-level BPE: one word's bytes -> token ids, by merge rank.
// Private to the library.

#include <array>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace oap::detail {

// A byte-level BPE model: the id of each single byte, the merges as (left id, right id) ->
// (rank, merged id), and optionally the whole-word shortcut of ignore_merges.
// Thread safety: encode_word is safe from many threads; it shares a bounded cache of encoded
// words guarded by a shared mutex (readers in parallel, inserts exclusive).
class BpeModel {
 public:
  struct Merge {
    std::int32_t left, right, merged;
  };

  // byte_ids[b]: id of the token for byte b, or -1 if the vocabulary lacks it (then unk_id is
  // used, or encode_word throws if unk_id < 0). merges in rank order (index = rank).
  // whole_words: byte string -> id of every vocabulary token, used when ignore_merges is set
  // (Llama-3): a word that is itself a token is emitted as that token without merging.
  BpeModel(std::array<std::int32_t, 256> byte_ids, const std::vector<Merge>& merges,
           std::unordered_map<std::string, std::int32_t> whole_words, bool ignore_merges,
           std::int32_t unk_id);

  // Appends the ids of word (raw bytes, non-empty) to out.
  void encode_word(std::string_view word, std::vector<std::int32_t>& out) const;

  // Words longer than this are not cached (they are rare and would evict many short ones).
  static constexpr std::size_t kMaxCachedWordBytes = 64;
  // The cache stops taking new words at this many entries.
  static constexpr std::size_t kCacheCapacity = 1 << 17;

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using WordMap =
      std::unordered_map<std::string, std::vector<std::int32_t>, StringHash, std::equal_to<>>;

  void merge_word(std::string_view word, std::vector<std::int32_t>& out) const;
  static std::uint64_t key(std::int32_t left, std::int32_t right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) |
           static_cast<std::uint32_t>(right);
  }

  std::array<std::int32_t, 256> byte_ids_;
  // (left << 32 | right) -> (rank, merged id).
  std::unordered_map<std::uint64_t, std::pair<std::int32_t, std::int32_t>> merges_;
  std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>> whole_words_;
  bool ignore_merges_;
  std::int32_t unk_id_;

  mutable std::shared_mutex cache_mu_;
  mutable WordMap cache_;  // GUARDED_BY(cache_mu_)
};

}  // namespace oap::detail
