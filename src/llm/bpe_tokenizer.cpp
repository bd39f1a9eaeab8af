#include "llm/bpe_tokenizer.hpp"

#include "llm/tokenizer_json_fields.hpp"
#include "oap/core/error.hpp"

namespace oap::detail {

BpeTokenizer::BpeTokenizer(const nlohmann::json& tokenizer, const std::string& source,
                           const nlohmann::json& tokenizer_config) {
  TokenizerJsonFields fields(source);
  if (!tokenizer.is_object()) {
    fields.malformed("", "expected a JSON object, got " + fields.got(tokenizer));
  }
  auto model = tokenizer.find("model");
  if (model == tokenizer.end() || model->is_null()) {
    fields.malformed("model", "missing (a tokenizer.json needs a \"model\" object)");
  }
  if (!model->is_object())
    fields.malformed("model", "expected an object, got " + fields.got(*model));
  static const nlohmann::json kNull;
  const auto component = [&](const char* key) -> const nlohmann::json& {
    auto it = tokenizer.find(key);
    return it == tokenizer.end() ? kNull : *it;
  };

  normalizer_ = std::make_unique<Normalizer>(component("normalizer"), source);
  pre_tokenizer_ = std::make_unique<PreTokenizer>(component("pre_tokenizer"), source);
  byte_level_ = pre_tokenizer_->has_byte_level();
  decoder_ = std::make_unique<Decoder>(component("decoder"), source);
  // A byte-level file without a decoder decodes as ByteLevel would (Hugging Face would join the
  // byte-alphabet spellings with spaces, which no real file relies on).
  concatenate_on_decode_ = byte_level_ && (decoder_->is_null() || decoder_->is_byte_level());

  parse_model(*model, fields);
  if (const auto& added = component("added_tokens"); !added.is_null()) {
    parse_added_tokens(added, fields);
  }
  if (const auto& post = component("post_processor"); !post.is_null()) {
    parse_post_processor(post, fields, "post_processor");
  }
  resolve_bos_eos(tokenizer_config, source);
}

void BpeTokenizer::set_token(std::int32_t id, std::string text, Kind kind) {
  auto index = static_cast<std::size_t>(id);
  if (index >= id_kind_.size()) {
    id_kind_.resize(index + 1, Kind::kNone);
    id_text_.resize(index + 1);
  }
  id_kind_[index] = kind;
  id_text_[index] = std::move(text);
}

std::optional<std::int32_t> BpeTokenizer::token_to_id(std::string_view token) const {
  auto it = spelled_to_id_.find(std::string(token));
  if (it == spelled_to_id_.end()) return std::nullopt;
  return it->second;
}

void BpeTokenizer::encode_normalized(std::string_view text, bool at_start,
                                     std::vector<std::int32_t>& out) const {
  if (text.empty()) return;
  std::vector<std::string> words;
  pre_tokenizer_->split(text, words, at_start);
  for (const auto& w : words) model_->encode_word(w, out);
}

void BpeTokenizer::encode_piece(std::string_view piece, bool at_start,
                                std::vector<std::int32_t>& out) const {
  if (normalizer_->is_identity()) {
    encode_normalized(piece, at_start, out);
    return;
  }
  std::string normalized(piece);
  normalizer_->normalize(normalized);
  if (normalized_added_.empty()) {
    encode_normalized(normalized, at_start, out);
    return;
  }
  std::vector<AddedTokenMatcher::Piece> pieces;
  normalized_added_.split(normalized, pieces);
  for (const auto& p : pieces) {
    if (p.token) {
      out.push_back(p.token->id);
    } else {
      encode_normalized(std::string_view(normalized).substr(p.begin, p.end - p.begin),
                        at_start && p.begin == 0, out);
    }
  }
}

std::vector<std::int32_t> BpeTokenizer::encode(std::string_view text, bool add_special) const {
  normalizer_->check(text);
  std::vector<std::int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special) out.insert(out.end(), prefix_ids_.begin(), prefix_ids_.end());
  std::vector<AddedTokenMatcher::Piece> pieces;
  raw_added_.split(text, pieces);
  for (const auto& p : pieces) {
    if (p.token) {
      out.push_back(p.token->id);
    } else {
      encode_piece(text.substr(p.begin, p.end - p.begin), p.begin == 0, out);
    }
  }
  if (add_special) out.insert(out.end(), suffix_ids_.begin(), suffix_ids_.end());
  return out;
}

void BpeTokenizer::throw_unknown_id(std::int32_t id) const {
  OAP_THROW(InvalidArgument, "decode: token id " + std::to_string(id) +
                                 " is not in this tokenizer (vocab_size " +
                                 std::to_string(id_kind_.size()) + ")");
}

std::string BpeTokenizer::decode(std::span<const std::int32_t> ids, bool skip_special) const {
  // As in Hugging Face, skipped tokens are left out before the decoder sees the rest.
  if (concatenate_on_decode_) {
    std::string out;
    for (std::int32_t id : ids) {
      auto index = static_cast<std::size_t>(id);
      if (index >= id_kind_.size() || id_kind_[index] == Kind::kNone) throw_unknown_id(id);
      if (skip_special && id_kind_[index] == Kind::kSpecial) continue;
      out += id_text_[index];
    }
    return out;
  }
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (std::int32_t id : ids) {
    auto index = static_cast<std::size_t>(id);
    if (index >= id_kind_.size() || id_kind_[index] == Kind::kNone) throw_unknown_id(id);
    if (skip_special && id_kind_[index] == Kind::kSpecial) continue;
    tokens.push_back(id_text_[index]);
  }
  return decoder_->decode(std::move(tokens));
}

}  // namespace oap::detail
