#pragma once
// The settings of Hugging Face's Metaspace pre-tokenizer and decoder, as tokenizer.json spells
// them in old and new files. Private to the library.

#include <nlohmann/json.hpp>
#include <string>

namespace oap::detail {

class TokenizerJsonFields;

// When Metaspace puts a replacement character in front of a piece of text that does not already
// start with one: always; only for the piece that starts the input (offset 0, so not after an
// added token); never.
enum class PrependScheme { kAlways, kFirst, kNever };

// Metaspace as Hugging Face tokenizers reads it: replacement (one character, "▁"), prepend_scheme
// ("always" | "first" | "never"; default "always"), split (default true). Files written before
// prepend_scheme existed say add_prefix_space instead: true means "always", false means "never".
struct MetaspaceSettings {
  std::string replacement = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK
  PrependScheme prepend_scheme = PrependScheme::kAlways;
  bool split = true;
};

// Reads a Metaspace object (pre-tokenizer or decoder); field names it in errors. Throws
// ParseError for a replacement that is not one character, an unknown prepend_scheme, or
// add_prefix_space false together with a prepend_scheme other than "never" (as Hugging Face does).
// add_prefix_space false without any prepend_scheme (old files) reads as "never"; tokenizers 0.23
// refuses that combination, since its default scheme is "always".
MetaspaceSettings parse_metaspace(const nlohmann::json& j, const TokenizerJsonFields& fields,
                                  const std::string& field);

}  // namespace oap::detail
