#include "llm/bpe_model.hpp"

#include <queue>

#include "oap/core/error.hpp"

namespace oap::detail {

BpeModel::BpeModel(std::array<std::int32_t, 256> byte_ids, const std::vector<Merge>& merges,
                   std::unordered_map<std::string, std::int32_t> whole_words, bool ignore_merges,
                   std::int32_t unk_id)
    : byte_ids_(byte_ids), ignore_merges_(ignore_merges), unk_id_(unk_id) {
  merges_.reserve(merges.size());
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& m = merges[rank];
    // A repeated pair keeps its first (best) rank, as Hugging Face's loader does.
    merges_.try_emplace(key(m.left, m.right), static_cast<std::int32_t>(rank), m.merged);
  }
  if (ignore_merges_) {
    for (auto& [word, id] : whole_words) whole_words_.emplace(word, id);
  }
}

void BpeModel::encode_word(std::string_view word, std::vector<std::int32_t>& out) const {
  if (ignore_merges_) {
    if (auto it = whole_words_.find(word); it != whole_words_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (word.size() > kMaxCachedWordBytes) {
    merge_word(word, out);
    return;
  }
  {
    std::shared_lock lock(cache_mu_);
    if (auto it = cache_.find(word); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::size_t first = out.size();
  merge_word(word, out);
  std::unique_lock lock(cache_mu_);
  if (cache_.size() < kCacheCapacity) {
    cache_.try_emplace(std::string(word), out.begin() + static_cast<std::ptrdiff_t>(first),
                       out.end());
  }
}

void BpeModel::merge_word(std::string_view word, std::vector<std::int32_t>& out) const {
  if (word.empty()) return;
  // Symbols form a doubly linked list over the word; a min-heap holds candidate merges ordered
  // by (rank, position), so the best-ranked, leftmost pair merges first, in O(n log n) even for
  // very long words. Entries made stale by an earlier merge are skipped when popped.
  struct Symbol {
    std::int32_t id;
    std::int32_t prev, next;  // -1 at the ends
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (std::size_t i = 0; i < word.size(); ++i) {
    auto byte = static_cast<unsigned char>(word[i]);
    std::int32_t id = byte_ids_[byte];
    if (id < 0) {
      OAP_CHECK(unk_id_ >= 0, InvalidArgument,
                "byte 0x" + std::string(1, "0123456789abcdef"[byte >> 4]) +
                    std::string(1, "0123456789abcdef"[byte & 15]) +
                    " has no token in this byte-level vocabulary and it has no unk_token");
      id = unk_id_;
    }
    symbols.push_back({id, static_cast<std::int32_t>(i) - 1,
                       i + 1 < word.size() ? static_cast<std::int32_t>(i + 1) : -1, true});
  }

  struct Candidate {
    std::int32_t rank, pos, merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  const auto push_pair = [&](std::int32_t pos) {
    if (pos < 0) return;
    std::int32_t next = symbols[pos].next;
    if (next < 0) return;
    auto it = merges_.find(key(symbols[pos].id, symbols[next].id));
    if (it != merges_.end()) heap.push({it->second.first, pos, it->second.second});
  };
  for (std::int32_t i = 0; i + 1 < static_cast<std::int32_t>(symbols.size()); ++i) push_pair(i);

  while (!heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    Symbol& left = symbols[c.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    auto it = merges_.find(key(left.id, right.id));
    // Stale: one side was merged into something else since this entry was pushed.
    if (it == merges_.end() || it->second.first != c.rank) continue;
    left.id = c.merged;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.pos;
    push_pair(left.prev);
    push_pair(c.pos);
  }
  for (std::int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

}  // namespace oap::detail
