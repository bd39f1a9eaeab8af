#pragma once
// The decoder of a Hugging Face tokenizer.json: turns token strings back into text. Private to
// the library.

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "llm/tokenizer_regex.hpp"

namespace oap::detail {

// A chain of steps read from tokenizer.json's "decoder", each taking the list of token strings
// and giving a new list, as Hugging Face tokenizers defines them:
//  - ByteLevel: each token spelled in GPT-2's byte alphabet becomes its bytes (a token with a
//    character outside the alphabet stays as it is);
//  - Replace: every match of a String or Regex pattern in each token becomes the content;
//  - ByteFallback: each run of "<0xNN>" tokens becomes the bytes it spells;
//  - Fuse: all tokens become one;
//  - Strip: removes up to start leading and stop trailing copies of one character from each
//    token;
//  - Metaspace: the replacement character becomes a space, except in the first token, where it
//    is dropped (unless prepend_scheme is "never");
//  - Sequence of these.
// With no decoder, tokens are joined with single spaces, as in Hugging Face.
// One deliberate difference: where ByteFallback's bytes (or ByteLevel's) are not valid UTF-8,
// Hugging Face writes U+FFFD (one per byte token in a run with an invalid sequence); here the
// bytes are kept as they are, so a caller streaming text can wait for the rest of a character
// (Tokenizer::decode documents this).
// Thread safety: immutable after construction; decode() is safe from many threads.
class Decoder {
 public:
  // j: the "decoder" value (null: join with spaces); source names the file in errors. Throws
  // ParseError for a malformed entry, ConfigError naming the field and type for an unsupported
  // one (WordPiece, BPEDecoder, CTC, ...).
  Decoder(const nlohmann::json& j, const std::string& source);
  ~Decoder();

  // The text of tokens (each a vocabulary spelling or an added token's content), in order.
  std::string decode(std::vector<std::string> tokens) const;

  // Whether the chain is exactly one ByteLevel step (then decoding is each token's bytes, which a
  // caller may precompute).
  bool is_byte_level() const {
    return steps_.size() == 1 && steps_.front().kind == Kind::kByteLevel;
  }
  bool is_null() const { return null_; }

 private:
  enum class Kind { kByteLevel, kReplace, kByteFallback, kFuse, kStrip, kMetaspace };
  struct Step {
    Kind kind;
    std::string pattern;              // Replace: the String pattern; Strip/Metaspace: the character
    std::string content;              // Replace: the replacement
    std::unique_ptr<Regex> regex;     // Replace with a Regex pattern
    std::size_t start = 0, stop = 0;  // Strip
    bool drop_in_first = false;       // Metaspace: prepend_scheme other than "never"
  };

  void parse(const nlohmann::json& j, const std::string& source, const std::string& field);
  static void apply(const Step& step, std::vector<std::string>& tokens);

  std::vector<Step> steps_;
  bool null_ = false;
};

// The byte a ByteFallback token such as "<0x0A>" stands for, or -1 ("<0x" + two hex digits +
// ">", either case, as Hugging Face accepts it).
int byte_fallback_value(std::string_view token);

}  // namespace oap::detail
