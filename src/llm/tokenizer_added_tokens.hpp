#pragma once
// Finding a tokenizer.json's added tokens ("<|im_start|>", "<s>") in text. Private to the library.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace oap::detail {

// One entry of tokenizer.json's "added_tokens". content is what is matched: for a normalized
// token in a tokenizer with a rewriting normalizer, the normalized content (as Hugging Face
// stores it).
struct AddedToken {
  std::string content;
  std::int32_t id = 0;
  bool special = false, lstrip = false, rstrip = false, single_word = false, normalized = false;
};

// A set of added tokens and the search for them: at each position the longest token that matches
// wins, scanning left to right (Hugging Face's leftmost-longest); single_word tokens match only
// between non-word characters; lstrip/rstrip tokens take the whitespace around them.
// Thread safety: immutable after build; split() is safe from many threads. Holds pointers into
// the tokens given to add(): they must outlive the matcher and not move.
class AddedTokenMatcher {
 public:
  // A piece of text: [begin, end) of the text given to split(); token is the added token it is,
  // or null for plain text between tokens.
  struct Piece {
    std::size_t begin, end;
    const AddedToken* token;
  };

  void add(const AddedToken& token);
  bool empty() const { return count_ == 0; }

  // Appends text's pieces in order (plain pieces are non-empty; together with the tokens and
  // the whitespace they strip they cover text).
  void split(std::string_view text, std::vector<Piece>& pieces) const;

 private:
  const AddedToken* match(std::string_view text, std::size_t pos) const;

  // For each first byte, the tokens starting with it, longest first.
  std::array<std::vector<const AddedToken*>, 256> by_first_byte_;
  std::size_t count_ = 0;
};

}  // namespace oap::detail
