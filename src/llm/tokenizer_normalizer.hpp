#pragma once
// The normalizer of a Hugging Face tokenizer.json: rewrites each piece of text between added
// tokens before pre-tokenization. Private to the library.

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "llm/tokenizer_regex.hpp"

namespace oap::detail {

// A chain of rewrites read from tokenizer.json's "normalizer", as Hugging Face tokenizers defines
// them: Prepend (adds a string in front of non-empty text), Replace (every non-overlapping match
// of a String or Regex pattern, left to right, becomes the content), NFC (a check only, see
// tokenizer_nfc.hpp) and Sequence. SentencePiece conversions use Sequence[Prepend "▁",
// Replace " " -> "▁"] (Llama-2, Mistral) or Replace " " -> "▁" alone (Gemma).
// Works on bytes: invalid UTF-8 passes through unchanged (a pattern never matches inside it).
// Thread safety: immutable after construction; normalize() is safe from many threads.
class Normalizer {
 public:
  // j: the "normalizer" value (null: none); source names the file in errors. Throws ParseError
  // for a malformed entry, ConfigError naming the field and type for an unsupported one
  // (Lowercase, NFKC, Precompiled, BertNormalizer, ...).
  Normalizer(const nlohmann::json& j, const std::string& source);
  ~Normalizer();

  // Whether normalize() never changes a text (no step, or only the NFC check).
  bool is_identity() const { return identity_; }

  // Throws InvalidArgument, naming the byte offset, if the chain has an NFC step and NFC might
  // change text (composition is not implemented, so such text is refused rather than tokenized
  // differently from Hugging Face). Called once on the whole input, before it is split.
  void check(std::string_view text) const;

  // Rewrites text in place (the NFC step leaves it as it is: see check()).
  void normalize(std::string& text) const;

 private:
  enum class Kind { kPrepend, kReplace, kNfcCheck };
  struct Step {
    Kind kind;
    std::string text;              // Prepend: what to add; Replace: the String pattern
    std::string content;           // Replace: the replacement
    std::unique_ptr<Regex> regex;  // Replace with a Regex pattern, else null
  };

  void parse(const nlohmann::json& j, const std::string& source, const std::string& field);

  std::vector<Step> steps_;
  bool identity_ = true;
  bool nfc_ = false;
};

}  // namespace oap::detail
