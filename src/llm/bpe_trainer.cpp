// write_byte_level_bpe_tokenizer: a small deterministic byte-level BPE trainer.

#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "llm/tokenizer_byte_level.hpp"
#include "llm/tokenizer_pre_tokenizer.hpp"
#include "llm/tokenizer_regex.hpp"
#include "oap/core/error.hpp"
#include "oap/llm/tokenizer.hpp"

#include "oap/core/atomic_file.hpp"

namespace oap {
namespace {

using Pair = std::pair<std::int32_t, std::int32_t>;

std::uint64_t pair_key(Pair p) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(p.first)) << 32) |
         static_cast<std::uint32_t>(p.second);
}

// Pair counts with the best pair at hand: most frequent first, then smallest (left, right).
class PairCounts {
 public:
  void add(Pair p, std::int64_t delta) {
    std::int64_t& count = counts_[pair_key(p)];
    if (count > 0) ordered_.erase({-count, p.first, p.second});
    count += delta;
    if (count > 0) ordered_.insert({-count, p.first, p.second});
  }
  std::optional<Pair> best() const {
    if (ordered_.empty()) return std::nullopt;
    const auto& [neg, l, r] = *ordered_.begin();
    return Pair{l, r};
  }

 private:
  std::unordered_map<std::uint64_t, std::int64_t> counts_;
  std::set<std::tuple<std::int64_t, std::int32_t, std::int32_t>> ordered_;
};

struct Word {
  std::vector<std::int32_t> symbols;
  std::int64_t count;
};

}  // namespace

void write_byte_level_bpe_tokenizer(const std::vector<std::string>& corpus, std::size_t vocab_size,
                                    const std::vector<std::string>& special_tokens,
                                    const std::filesystem::path& out) {
  OAP_CHECK(vocab_size >= 256 + special_tokens.size(), InvalidArgument,
            "write_byte_level_bpe_tokenizer: vocab_size " + std::to_string(vocab_size) +
                " is below 256 byte tokens + " + std::to_string(special_tokens.size()) +
                " special tokens");
  std::unordered_set<std::string> seen_special;
  for (const auto& s : special_tokens) {
    OAP_CHECK(!s.empty(), InvalidArgument, "write_byte_level_bpe_tokenizer: empty special token");
    OAP_CHECK(seen_special.insert(s).second, InvalidArgument,
              "write_byte_level_bpe_tokenizer: special token \"" + s + "\" given twice");
  }

  // Distinct words with their counts, in byte order so the result does not depend on hashing.
  // Special tokens written in the corpus are cut out first, as the tokenizer will do.
  detail::Regex split(detail::PreTokenizer::llama3_pattern(), false);
  std::map<std::string, std::int64_t> word_counts;
  const auto count_words = [&](std::string_view text) {
    std::size_t last = 0;
    const auto add = [&](std::size_t b, std::size_t e) {
      if (e > b) ++word_counts[std::string(text.substr(b, e - b))];
    };
    split.for_each_match(text, [&](std::size_t b, std::size_t e) {
      add(last, b);
      add(b, e);
      last = e;
    });
    add(last, text.size());
  };
  for (const auto& doc : corpus) {
    std::string_view rest = doc;
    while (!rest.empty()) {
      std::size_t cut = rest.size(), cut_len = 0;
      for (const auto& s : special_tokens) {
        auto at = rest.find(s);
        if (at < cut || (at == cut && at != std::string_view::npos && s.size() > cut_len)) {
          cut = at;
          cut_len = s.size();
        }
      }
      count_words(rest.substr(0, cut));
      rest = cut < rest.size() ? rest.substr(cut + cut_len) : std::string_view();
    }
  }

  std::vector<std::string> token_bytes(256);
  for (int b = 0; b < 256; ++b) token_bytes[b] = std::string(1, static_cast<char>(b));
  std::unordered_map<std::string, std::int32_t> bytes_to_id;
  for (int b = 0; b < 256; ++b) bytes_to_id[token_bytes[b]] = b;

  std::vector<Word> words;
  words.reserve(word_counts.size());
  PairCounts pairs;
  std::unordered_map<std::uint64_t, std::vector<std::size_t>> words_with_pair;
  for (const auto& [text, count] : word_counts) {
    Word w{{}, count};
    for (unsigned char b : text) w.symbols.push_back(b);
    for (std::size_t i = 0; i + 1 < w.symbols.size(); ++i) {
      Pair p{w.symbols[i], w.symbols[i + 1]};
      pairs.add(p, count);
      words_with_pair[pair_key(p)].push_back(words.size());
    }
    words.push_back(std::move(w));
  }

  const std::size_t max_tokens = vocab_size - special_tokens.size();
  std::vector<Pair> merges;
  while (token_bytes.size() < max_tokens) {
    auto best = pairs.best();
    if (!best) break;
    // Two merge paths can spell the same bytes ("ab"+"c", "a"+"bc"): the vocabulary is keyed by
    // spelling, so the second merge reuses the first token's id (as Hugging Face's trainer does).
    std::string merged_bytes = token_bytes[best->first] + token_bytes[best->second];
    auto [it, is_new] =
        bytes_to_id.try_emplace(merged_bytes, static_cast<std::int32_t>(token_bytes.size()));
    if (is_new) token_bytes.push_back(merged_bytes);
    const std::int32_t merged = it->second;
    merges.push_back(*best);

    std::vector<std::size_t> candidates = std::move(words_with_pair[pair_key(*best)]);
    words_with_pair.erase(pair_key(*best));
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    for (std::size_t wi : candidates) {
      Word& w = words[wi];
      auto& s = w.symbols;
      bool contains = false;
      for (std::size_t i = 0; i + 1 < s.size() && !contains; ++i) {
        contains = s[i] == best->first && s[i + 1] == best->second;
      }
      if (!contains) continue;
      for (std::size_t i = 0; i + 1 < s.size(); ++i) pairs.add({s[i], s[i + 1]}, -w.count);
      std::vector<std::int32_t> merged_symbols;
      merged_symbols.reserve(s.size());
      for (std::size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == best->first && s[i + 1] == best->second) {
          merged_symbols.push_back(merged);
          ++i;
        } else {
          merged_symbols.push_back(s[i]);
        }
      }
      s.swap(merged_symbols);
      for (std::size_t i = 0; i + 1 < s.size(); ++i) {
        Pair p{s[i], s[i + 1]};
        pairs.add(p, w.count);
        words_with_pair[pair_key(p)].push_back(wi);
      }
    }
  }

  using ojson = nlohmann::ordered_json;
  ojson vocab = ojson::object();
  for (std::size_t id = 0; id < token_bytes.size(); ++id) {
    vocab[detail::bytes_to_byte_level(token_bytes[id])] = id;
  }
  ojson merges_json = ojson::array();
  for (const auto& [l, r] : merges) {
    merges_json.push_back(
        {detail::bytes_to_byte_level(token_bytes[l]), detail::bytes_to_byte_level(token_bytes[r])});
  }
  ojson added = ojson::array();
  for (std::size_t i = 0; i < special_tokens.size(); ++i) {
    OAP_CHECK(!vocab.contains(special_tokens[i]), InvalidArgument,
              "write_byte_level_bpe_tokenizer: special token \"" + special_tokens[i] +
                  "\" is spelled like a learned token");
    added.push_back({{"id", token_bytes.size() + i},
                     {"content", special_tokens[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  ojson byte_level = {{"type", "ByteLevel"},
                      {"add_prefix_space", false},
                      {"trim_offsets", true},
                      {"use_regex", false}};
  ojson doc = {{"version", "1.0"},
               {"truncation", nullptr},
               {"padding", nullptr},
               {"added_tokens", added},
               {"normalizer", nullptr},
               {"pre_tokenizer",
                {{"type", "Sequence"},
                 {"pretokenizers",
                  ojson::array({{{"type", "Split"},
                                 {"pattern", {{"Regex", detail::PreTokenizer::llama3_pattern()}}},
                                 {"behavior", "Isolated"},
                                 {"invert", false}},
                                byte_level})}}},
               {"post_processor", byte_level},
               {"decoder", byte_level},
               {"model",
                {{"type", "BPE"},
                 {"dropout", nullptr},
                 {"unk_token", nullptr},
                 {"continuing_subword_prefix", nullptr},
                 {"end_of_word_suffix", nullptr},
                 {"fuse_unk", false},
                 {"byte_fallback", false},
                 {"ignore_merges", false},
                 {"vocab", vocab},
                 {"merges", merges_json}}}};
  write_text_file_atomic(out, doc.dump(1) + "\n");
}

}  // namespace oap
