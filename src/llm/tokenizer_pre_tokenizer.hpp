#pragma once
// The pre-tokenizer of a Hugging Face tokenizer.json: splits text into words before BPE.
// Private to the library.

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "llm/tokenizer_regex.hpp"

namespace oap::detail {

// A chain of splitting steps read from tokenizer.json's "pre_tokenizer" (Sequence, Split with a
// Regex or String pattern and any behavior, ByteLevel, Digits, Metaspace), with Hugging Face
// tokenizers' semantics. Words are raw bytes: the ByteLevel step's byte -> unicode mapping is not
// applied here because the BPE model works on bytes directly. Metaspace (SentencePiece-style
// files) replaces each space with its replacement character ("▁"), puts one in front of a word
// that lacks it as its prepend_scheme says, and, with split, cuts before each replacement
// character.
// Thread safety: immutable after construction; split() is safe from many threads.
class PreTokenizer {
 public:
  // j: the "pre_tokenizer" value (null: the whole text is one word). source names the file in
  // errors. Throws ParseError naming the field for unknown types, behaviors or bad patterns.
  PreTokenizer(const nlohmann::json& j, const std::string& source);
  ~PreTokenizer();

  // Appends the words of text to words (non-empty byte strings, in order; their concatenation
  // is text, plus a space per word when ByteLevel's add_prefix_space applies, with Metaspace's
  // replacements and prefixes). at_start: text begins the input (no added token before it), for
  // Metaspace's prepend_scheme "first".
  void split(std::string_view text, std::vector<std::string>& words, bool at_start = true) const;

  // Whether a ByteLevel step is present (required for byte-level BPE).
  bool has_byte_level() const { return has_byte_level_; }

  // The GPT-2 regex ByteLevel(use_regex=true) splits with.
  static const char* gpt2_pattern();
  // The Llama-3 split regex (also the one write_byte_level_bpe_tokenizer uses).
  static const char* llama3_pattern();

 private:
  enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
  struct Step {
    std::unique_ptr<Regex> regex;  // null for a step that only rewrites or prepends
    Behavior behavior = Behavior::kIsolated;
    bool invert = false;
    std::string prefix;              // put in front of a word that does not start with it
    bool prefix_first_only = false;  // only for the word at the start of the input
    std::string space_replacement;   // Metaspace: what each ' ' becomes (empty: no rewrite)
  };

  void parse(const nlohmann::json& j, const std::string& source, const std::string& field);
  // Appends the pieces of word to out; returns whether the first piece appended (if any) starts
  // where word starts (false when a Removed match led the word).
  static bool apply(const Step& step, std::string_view word, bool at_start,
                    std::vector<std::string>& out);

  std::vector<Step> steps_;
  bool has_byte_level_ = false;
};

}  // namespace oap::detail
