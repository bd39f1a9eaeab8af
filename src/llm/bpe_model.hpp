#pragma once
// The merge step of BPE: one word -> token ids, by merge rank. Private to the library.

#include <array>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace oap::detail {

// A BPE model as Hugging Face tokenizers runs it: a word starts as one symbol per byte
// (byte-level BPE: GPT-2, Llama-3, Qwen2) or per character (SentencePiece-converted files:
// Llama-2, Mistral, Gemma), then the best-ranked adjacent pair is merged until none is left.
// The merges are (left id, right id) -> (rank, merged id); ignore_merges (Llama-3) takes a word
// that is itself a token whole.
// Per-character symbols: a character that is a vocabulary token is that token; otherwise, with
// byte_fallback, its UTF-8 bytes as "<0xNN>" tokens (if all of them exist); otherwise unk_id,
// consecutive unknown characters becoming one unk_id with fuse_unk (tokenizers' order kept: a
// pending unk is written when the next known character comes, after any fallback bytes). A byte
// that is not valid UTF-8 (Hugging Face cannot be given one) is handled like a character: its
// "<0xNN>" token, else unk_id.
// Thread safety: encode_word is safe from many threads; it shares a bounded cache of encoded
// words guarded by a shared mutex (readers in parallel, inserts exclusive).
class BpeModel {
 public:
  struct Merge {
    std::int32_t left, right, merged;
  };
  struct Config {
    bool byte_level = true;      // symbols are bytes (else characters)
    bool byte_fallback = false;  // per-character symbols only
    bool fuse_unk = false;       // per-character symbols only
    bool ignore_merges = false;
    std::int32_t unk_id = -1;  // -1: none (encode_word throws where it would be needed)
  };

  // byte_ids[b]: byte-level: id of the token for byte b; per character: id of "<0xNN>"; -1 if
  // the vocabulary lacks it. merges in rank order (index = rank). vocab: token (as bytes) -> id
  // of every vocabulary token, used for characters and for ignore_merges.
  BpeModel(std::array<std::int32_t, 256> byte_ids, const std::vector<Merge>& merges,
           std::unordered_map<std::string, std::int32_t> vocab, Config config);

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

  // One symbol of a word being merged: a doubly linked list over the word.
  struct Symbol {
    std::int32_t id;
    std::int32_t prev, next;  // -1 at the ends
    bool alive;
  };

  void merge_word(std::string_view word, std::vector<std::int32_t>& out) const;
  // Appends the starting symbols of word (one per byte, or one or more per character), linked.
  void initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const;
  static std::uint64_t key(std::int32_t left, std::int32_t right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) |
           static_cast<std::uint32_t>(right);
  }

  std::array<std::int32_t, 256> byte_ids_;
  // (left << 32 | right) -> (rank, merged id).
  std::unordered_map<std::uint64_t, std::pair<std::int32_t, std::int32_t>> merges_;
  std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>> vocab_;
  Config config_;

  mutable std::shared_mutex cache_mu_;
  mutable WordMap cache_;  // GUARDED_BY(cache_mu_)
};

}  // namespace oap::detail
