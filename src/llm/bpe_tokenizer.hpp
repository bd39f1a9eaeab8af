#pragma once
// BpeTokenizer: a Hugging Face tokenizer.json with a BPE model, byte-level or converted from
// SentencePiece. Private to the library; users get it through Tokenizer::from_json_file /
// Tokenizer::load.

#include <array>
#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "llm/bpe_model.hpp"
#include "llm/tokenizer_added_tokens.hpp"
#include "llm/tokenizer_decoder.hpp"
#include "llm/tokenizer_normalizer.hpp"
#include "llm/tokenizer_pre_tokenizer.hpp"
#include "oap/llm/tokenizer.hpp"

namespace oap::detail {

class TokenizerJsonFields;

// A tokenizer.json pipeline with a BPE model, in two flavours:
//  - byte-level (a ByteLevel pre-tokenizer: GPT-2, Llama-3, Qwen2): the vocabulary is spelled in
//    GPT-2's byte alphabet and words are merged from their bytes;
//  - SentencePiece-converted (no ByteLevel step: Llama-2, Mistral, Gemma): the vocabulary is
//    plain UTF-8 with "▁" for spaces, words are merged from their characters, with byte_fallback
//    to "<0xNN>" tokens and unk_token (fuse_unk) for the rest.
// Encoding, as Hugging Face tokenizers does it: added tokens are cut out first (leftmost, longest
// first); each remaining piece is normalized (Normalizer), split into words (PreTokenizer, which
// knows whether the piece starts the input), and each word is merged (BpeModel); added tokens with
// normalized: true are then found in the normalized text. add_special puts the post-processor's
// tokens around the result, as tokenizer_config.json's add_bos_token / add_eos_token adjust it.
// Decoding runs the tokenizer.json decoder (Decoder) over the tokens' strings (byte-level:
// each token's bytes, precomputed), keeping invalid UTF-8 as bytes rather than U+FFFD.
// tokenizer_config.json's legacy flag changes nothing, as in transformers' fast tokenizers: it
// only matters when converting a slow tokenizer, and tokenizer.json already carries the result
// (Prepend normalizer: legacy; Metaspace pre-tokenizer with prepend_scheme "first": not legacy).
// Thread safety: immutable after construction except the word cache inside BpeModel, which has
// its own lock; all methods are safe from many threads.
class BpeTokenizer final : public Tokenizer {
 public:
  // tokenizer: the parsed tokenizer.json; source: its path, for errors; tokenizer_config: the
  // parsed tokenizer_config.json beside it, or null. Throws ParseError naming the field for a
  // malformed file, ConfigError naming the component and value for an unsupported one.
  BpeTokenizer(const nlohmann::json& tokenizer, const std::string& source,
               const nlohmann::json& tokenizer_config);

  std::vector<std::int32_t> encode(std::string_view text, bool add_special) const override;
  std::string decode(std::span<const std::int32_t> ids, bool skip_special) const override;
  std::size_t vocab_size() const override { return id_kind_.size(); }
  std::optional<std::int32_t> token_to_id(std::string_view token) const override;
  std::optional<std::int32_t> bos_id() const override { return bos_id_; }
  std::optional<std::int32_t> eos_id() const override { return eos_id_; }

 private:
  enum class Kind : unsigned char { kNone, kVocab, kAdded, kSpecial };

  // Construction steps (bpe_tokenizer_load.cpp).
  void parse_model(const nlohmann::json& model, const TokenizerJsonFields& fields);
  void parse_merges(const nlohmann::json& model, const TokenizerJsonFields& fields,
                    std::vector<BpeModel::Merge>& merges) const;
  void parse_added_tokens(const nlohmann::json& list, const TokenizerJsonFields& fields);
  void parse_post_processor(const nlohmann::json& j, const TokenizerJsonFields& fields,
                            const std::string& field);
  void resolve_bos_eos(const nlohmann::json& tokenizer_config, const std::string& source);
  void set_token(std::int32_t id, std::string text, Kind kind);
  // Throws InvalidArgument naming id (kept out of line: decode's loop is hot).
  [[noreturn, gnu::noinline, gnu::cold]] void throw_unknown_id(std::int32_t id) const;

  // Encodes a piece of the input that holds no raw-matched added token; at_start: it begins the
  // input.
  void encode_piece(std::string_view piece, bool at_start, std::vector<std::int32_t>& out) const;
  // Pre-tokenizes and merges already normalized text.
  void encode_normalized(std::string_view text, bool at_start,
                         std::vector<std::int32_t>& out) const;

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<Decoder> decoder_;
  bool byte_level_ = false;
  // decode() concatenates id_text_ (each id's bytes) instead of running decoder_.
  bool concatenate_on_decode_ = false;

  std::deque<AddedToken> added_;        // stable addresses: the matchers point into it
  AddedTokenMatcher raw_added_;         // matched in the input text
  AddedTokenMatcher normalized_added_;  // matched in normalized text (normalized: true)
  // What each id decodes from: its bytes when concatenate_on_decode_, else the token string the
  // decoder takes (vocabulary spelling or added content).
  std::vector<std::string> id_text_;
  std::vector<Kind> id_kind_;
  std::unordered_map<std::string, std::int32_t> spelled_to_id_;  // vocab keys + added contents
  std::vector<std::int32_t> prefix_ids_, suffix_ids_;            // post-processor, when add_special
  std::optional<std::int32_t> bos_id_, eos_id_;
};

}  // namespace oap::detail
