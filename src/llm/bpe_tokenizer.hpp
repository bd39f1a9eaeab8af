#pragma once
// BpeTokenizer: a Hugging Face tokenizer.json with a byte-level BPE model. Private to the
// library; users get it through Tokenizer::from_json_file / Tokenizer::load.

#include <array>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "llm/bpe_model.hpp"
#include "llm/tokenizer_pre_tokenizer.hpp"
#include "oap/llm/tokenizer.hpp"

namespace oap::detail {

// Byte-level BPE as GPT-2, Llama-3 and Qwen2 ship it. Normalizer: none, or NFC (Qwen2), which is
// applied only in the sense that text NFC would change is refused with InvalidArgument. Encoding:
// added tokens are cut out first (leftmost, longest first), each remaining segment is pre-tokenized
// into words, each word's bytes are merged by rank (or taken whole under ignore_merges). Decoding
// concatenates each token's bytes (an added token's content), without Hugging Face's optional
// whitespace clean-up, so decode(encode(s)) == s exactly. Thread safety: immutable after
// construction except the word cache inside BpeModel, which has its own lock; all methods are safe
// from many threads.
class BpeTokenizer final : public Tokenizer {
 public:
  // tokenizer: the parsed tokenizer.json; source: its path, for errors; tokenizer_config: the
  // parsed tokenizer_config.json beside it, or null. Throws ParseError naming the bad field.
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
  struct AddedToken {
    std::string content;
    std::int32_t id;
    bool special, lstrip, rstrip, single_word;
  };

  void parse_model(const nlohmann::json& model, const std::string& source);
  void parse_added_tokens(const nlohmann::json& list, const std::string& source);
  void parse_post_processor(const nlohmann::json& j, const std::string& source,
                            const std::string& field);
  void resolve_bos_eos(const nlohmann::json& tokenizer_config, const std::string& source);
  void set_token(std::int32_t id, std::string bytes, Kind kind);
  // Encodes text that holds no added token.
  void encode_plain(std::string_view text, std::vector<std::int32_t>& out) const;
  // The added token that starts at text[pos] (longest first), or nullptr.
  const AddedToken* match_added(std::string_view text, std::size_t pos) const;

  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::vector<AddedToken> added_;
  // For each first byte, indexes into added_ of tokens starting with it, longest first.
  std::array<std::vector<std::size_t>, 256> added_by_first_byte_;
  std::vector<std::string> id_bytes_;  // what each id decodes to
  std::vector<Kind> id_kind_;
  std::unordered_map<std::string, std::int32_t> spelled_to_id_;  // vocab keys + added contents
  std::vector<std::int32_t> prefix_ids_, suffix_ids_;            // post-processor, when add_special
  std::optional<std::int32_t> bos_id_, eos_id_;
  bool nfc_ = false;  // normalizer NFC: refuse text that is not certainly NFC already
};

}  // namespace oap::detail
