#include "llm/bpe_model.hpp"

#include <queue>

#include "llm/tokenizer_byte_level.hpp"
#include "oap/core/error.hpp"

namespace oap::detail {

namespace {

std::string hex_byte(unsigned char byte) {
  return std::string("0x") + "0123456789abcdef"[byte >> 4] + "0123456789abcdef"[byte & 15];
}

}  // namespace

BpeModel::BpeModel(std::array<std::int32_t, 256> byte_ids, const std::vector<Merge>& merges,
                   std::unordered_map<std::string, std::int32_t> vocab, Config config)
    : byte_ids_(byte_ids), config_(config) {
  merges_.reserve(merges.size());
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& m = merges[rank];
    // A repeated pair keeps its first (best) rank, as Hugging Face's loader does.
    merges_.try_emplace(key(m.left, m.right), static_cast<std::int32_t>(rank), m.merged);
  }
  if (config_.ignore_merges || !config_.byte_level) {
    vocab_.reserve(vocab.size());
    for (auto& [word, id] : vocab) vocab_.emplace(word, id);
  }
}

void BpeModel::encode_word(std::string_view word, std::vector<std::int32_t>& out) const {
  if (config_.ignore_merges) {
    if (auto it = vocab_.find(word); it != vocab_.end()) {
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
  std::vector<Symbol> symbols;
  initial_symbols(word, symbols);
  if (symbols.empty()) return;
  const auto n = static_cast<std::int32_t>(symbols.size());

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
  for (std::int32_t i = 0; i + 1 < n; ++i) push_pair(i);

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

void BpeModel::initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const {
  symbols.reserve(word.size());
  const auto push = [&symbols](std::int32_t id) {
    const auto i = static_cast<std::int32_t>(symbols.size());
    if (i > 0) symbols.back().next = i;
    symbols.push_back({id, i - 1, -1, true});
  };
  if (config_.byte_level) {
    for (char c : word) {
      auto byte = static_cast<unsigned char>(c);
      std::int32_t id = byte_ids_[byte];
      if (id < 0) {
        OAP_CHECK(config_.unk_id >= 0, InvalidArgument,
                  "byte " + hex_byte(byte) +
                      " has no token in this byte-level vocabulary and it has no unk_token");
        id = config_.unk_id;
      }
      push(id);
    }
    return;
  }
  bool pending_unk = false;
  std::size_t pos = 0;
  while (pos < word.size()) {
    const std::size_t start = pos;
    const bool valid = next_code_point(word, pos).has_value();
    const std::string_view ch = word.substr(start, pos - start);
    if (valid) {
      if (auto it = vocab_.find(ch); it != vocab_.end()) {
        if (pending_unk) push(config_.unk_id);
        pending_unk = false;
        push(it->second);
        continue;
      }
    }
    if (config_.byte_fallback) {
      bool all = true;
      for (char c : ch) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        // As tokenizers does: fallback bytes go out at once, a pending unk stays pending.
        for (char c : ch) push(byte_ids_[static_cast<unsigned char>(c)]);
        continue;
      }
    }
    OAP_CHECK(config_.unk_id >= 0, InvalidArgument,
              (valid ? "character \"" + std::string(ch) + "\"" : "byte " + hex_byte(ch[0])) +
                  " has no token in this vocabulary (nor byte-fallback tokens) and it has no "
                  "unk_token");
    if (pending_unk && !config_.fuse_unk) push(config_.unk_id);
    pending_unk = true;
  }
  if (pending_unk) push(config_.unk_id);
}

}  // namespace oap::detail
