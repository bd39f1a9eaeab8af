// BpeTokenizer's construction steps: the model, the added tokens, the post-processor and the
// tokenizer_config.json settings.
#include <algorithm>

#include "llm/bpe_tokenizer.hpp"
#include "llm/tokenizer_byte_level.hpp"
#include "llm/tokenizer_json_fields.hpp"
#include "oap/core/error.hpp"

namespace oap::detail {
namespace {

// A token named in tokenizer_config.json: "<s>" or {"content": "<s>", ...} or null.
std::optional<std::string> config_token(const nlohmann::json& config, const char* key) {
  if (!config.is_object()) return std::nullopt;
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return std::nullopt;
}

// The byte a byte-fallback vocabulary entry stands for, or -1. Hugging Face's BPE looks these up
// spelled exactly "<0xNN>" with upper-case hex digits.
int byte_fallback_entry(const std::string& token) {
  static const char* const kHex = "0123456789ABCDEF";
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return -1;
  const char* hi = std::find(kHex, kHex + 16, token[3]);
  const char* lo = std::find(kHex, kHex + 16, token[4]);
  if (hi == kHex + 16 || lo == kHex + 16) return -1;
  return static_cast<int>((hi - kHex) * 16 + (lo - kHex));
}

}  // namespace

void BpeTokenizer::parse_model(const nlohmann::json& model, const TokenizerJsonFields& fields) {
  auto type = model.find("type");
  if (type != model.end() && !type->is_string()) {
    fields.malformed("model.type", "expected a string, got " + fields.got(*type));
  }
  // Old files leave "type" out; a model with merges is BPE, as Hugging Face reads it.
  std::string type_name = type != model.end()        ? type->get<std::string>()
                          : model.contains("merges") ? "BPE"
                                                     : "";
  if (type_name != "BPE") {
    fields.unsupported("model.type",
                       "unsupported model type \"" + type_name +
                           "\" (supported: BPE; Unigram/WordPiece/WordLevel are not)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    if (it != model.end() && !it->is_null() &&
        !(it->is_string() && it->get<std::string>().empty())) {
      fields.unsupported(std::string("model.") + key,
                         "unsupported BPE option, got " + fields.got(*it) + " (only null or \"\")");
    }
  }

  auto vocab = model.find("vocab");
  if (vocab == model.end()) fields.malformed("model.vocab", "missing");
  if (!vocab->is_object()) {
    fields.malformed("model.vocab", "expected an object, got " + fields.got(*vocab));
  }
  // Token (as the model sees it: bytes for byte-level, UTF-8 otherwise) -> id.
  std::unordered_map<std::string, std::int32_t> model_vocab;
  model_vocab.reserve(vocab->size());
  std::array<std::int32_t, 256> byte_ids;
  byte_ids.fill(-1);
  std::unordered_map<std::string, unsigned char> spelling_to_byte;
  if (byte_level_) {
    const auto& byte_spelling = byte_to_unicode();
    for (int b = 0; b < 256; ++b) {
      spelling_to_byte[byte_spelling[b]] = static_cast<unsigned char>(b);
    }
  }
  for (const auto& [token, value] : vocab->items()) {
    const std::string field = "model.vocab[\"" + token + "\"]";
    std::int32_t id = fields.id(value, field);
    if (static_cast<std::size_t>(id) < id_kind_.size() && id_kind_[id] != Kind::kNone) {
      fields.malformed(field, "id " + std::to_string(id) + " is already used by another token");
    }
    spelled_to_id_.emplace(token, id);
    if (byte_level_) {
      auto bytes = byte_level_to_bytes(token);
      // A token outside the byte alphabet decodes to its own text, as Hugging Face's decoder does.
      set_token(id, concatenate_on_decode_ && bytes ? *bytes : token, Kind::kVocab);
      if (bytes) model_vocab.emplace(std::move(*bytes), id);
      if (auto it = spelling_to_byte.find(token); it != spelling_to_byte.end()) {
        byte_ids[it->second] = id;
      }
    } else {
      set_token(id, token, Kind::kVocab);
      model_vocab.emplace(token, id);
      if (int byte = byte_fallback_entry(token); byte >= 0) byte_ids[byte] = id;
    }
  }

  std::vector<BpeModel::Merge> merges;
  parse_merges(model, fields, merges);

  BpeModel::Config config;
  config.byte_level = byte_level_;
  config.byte_fallback = fields.flag(model, "byte_fallback", "model");
  config.fuse_unk = fields.flag(model, "fuse_unk", "model");
  config.ignore_merges = fields.flag(model, "ignore_merges", "model");
  if (auto unk = model.find("unk_token"); unk != model.end() && !unk->is_null()) {
    if (!unk->is_string()) {
      fields.malformed("model.unk_token", "expected a string or null, got " + fields.got(*unk));
    }
    auto it = spelled_to_id_.find(unk->get<std::string>());
    if (it == spelled_to_id_.end()) {
      fields.malformed("model.unk_token",
                       "token \"" + unk->get<std::string>() + "\" is not in model.vocab");
    }
    config.unk_id = it->second;
  }
  // dropout is a training-time regularizer; encoding here is always deterministic.
  model_ = std::make_unique<BpeModel>(byte_ids, merges, std::move(model_vocab), config);
}

void BpeTokenizer::parse_merges(const nlohmann::json& model, const TokenizerJsonFields& fields,
                                std::vector<BpeModel::Merge>& merges) const {
  auto merges_json = model.find("merges");
  if (merges_json == model.end()) fields.malformed("model.merges", "missing");
  if (!merges_json->is_array()) {
    fields.malformed("model.merges", "expected an array, got " + fields.got(*merges_json));
  }
  merges.reserve(merges_json->size());
  const auto lookup = [&](const std::string& token, const std::string& field) {
    auto it = spelled_to_id_.find(token);
    if (it == spelled_to_id_.end()) {
      fields.malformed(field, "token \"" + token + "\" is not in model.vocab");
    }
    return it->second;
  };
  for (std::size_t i = 0; i < merges_json->size(); ++i) {
    const auto& entry = (*merges_json)[i];
    const std::string field = "model.merges[" + std::to_string(i) + "]";
    std::string left, right;
    if (entry.is_string()) {
      const auto& s = entry.get_ref<const std::string&>();
      auto space = s.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 == s.size() ||
          s.find(' ', space + 1) != std::string::npos) {
        fields.malformed(field,
                         "expected \"left right\" (two tokens, one space), got \"" + s + "\"");
      }
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() &&
               entry[1].is_string()) {
      left = entry[0].get<std::string>();
      right = entry[1].get<std::string>();
    } else {
      fields.malformed(
          field, "expected \"left right\" or [\"left\", \"right\"], got " + fields.got(entry));
    }
    std::int32_t l = lookup(left, field);
    std::int32_t r = lookup(right, field);
    std::int32_t m = lookup(left + right, field);
    merges.push_back({l, r, m});
  }
}

void BpeTokenizer::parse_added_tokens(const nlohmann::json& list,
                                      const TokenizerJsonFields& fields) {
  if (!list.is_array())
    fields.malformed("added_tokens", "expected an array, got " + fields.got(list));
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& t = list[i];
    const std::string field = "added_tokens[" + std::to_string(i) + "]";
    if (!t.is_object()) fields.malformed(field, "expected an object, got " + fields.got(t));
    AddedToken added;
    added.content = fields.string(t, "content", field);
    added.id = fields.id(fields.member(t, "id", field), field + ".id");
    added.special = fields.flag(t, "special", field);
    added.lstrip = fields.flag(t, "lstrip", field);
    added.rstrip = fields.flag(t, "rstrip", field);
    added.single_word = fields.flag(t, "single_word", field);
    added.normalized = fields.flag(t, "normalized", field, !added.special);
    if (added.content.empty()) fields.malformed(field + ".content", "is empty");
    auto index = static_cast<std::size_t>(added.id);
    if (index < id_kind_.size() && id_kind_[index] != Kind::kNone) {
      // An added token may repeat a vocabulary entry with the same id (GPT-2's <|endoftext|>,
      // Gemma's "<start_of_turn>"), but not take over a different token's id.
      auto it = spelled_to_id_.find(added.content);
      if (it == spelled_to_id_.end() || it->second != added.id) {
        fields.malformed(field + ".id",
                         "id " + std::to_string(added.id) + " already belongs to another token");
      }
    }
    spelled_to_id_[added.content] = added.id;
    const bool match_normalized = added.normalized && !normalizer_->is_identity();
    if (match_normalized) {
      // Hugging Face normalizes such a token's content (Prepend included) and then finds it in
      // normalized text; decoding shows the normalized content.
      normalizer_->normalize(added.content);
    }
    set_token(added.id, added.content, added.special ? Kind::kSpecial : Kind::kAdded);
    added_.push_back(std::move(added));
    (match_normalized ? normalized_added_ : raw_added_).add(added_.back());
  }
}

void BpeTokenizer::parse_post_processor(const nlohmann::json& j, const TokenizerJsonFields& fields,
                                        const std::string& field) {
  const std::string type = fields.type(j, field);
  const auto id_of = [&](const std::string& token, const std::string& f) {
    auto it = spelled_to_id_.find(token);
    if (it == spelled_to_id_.end()) {
      fields.malformed(f, "token \"" + token + "\" is not in the vocabulary");
    }
    return it->second;
  };
  if (type == "ByteLevel") {
    return;  // offsets only; adds no tokens
  } else if (type == "Sequence") {
    const auto& list = j.contains("processors") ? j["processors"] : nlohmann::json();
    if (!list.is_array()) fields.malformed(field + ".processors", "expected an array");
    for (std::size_t i = 0; i < list.size(); ++i) {
      parse_post_processor(list[i], fields, field + ".processors[" + std::to_string(i) + "]");
    }
  } else if (type == "TemplateProcessing") {
    const auto& single = j.contains("single") ? j["single"] : nlohmann::json();
    if (!single.is_array()) fields.malformed(field + ".single", "expected an array");
    const auto& specials =
        j.contains("special_tokens") ? j["special_tokens"] : nlohmann::json::object();
    bool seen_sequence = false;
    for (std::size_t i = 0; i < single.size(); ++i) {
      const auto& item = single[i];
      const std::string f = field + ".single[" + std::to_string(i) + "]";
      if (item.contains("Sequence")) {
        seen_sequence = true;
      } else if (item.contains("SpecialToken") && item["SpecialToken"].contains("id") &&
                 item["SpecialToken"]["id"].is_string()) {
        std::string name = item["SpecialToken"]["id"].get<std::string>();
        std::vector<std::int32_t> ids;
        if (specials.is_object() && specials.contains(name) && specials[name].contains("ids")) {
          for (const auto& id : specials[name]["ids"]) ids.push_back(fields.id(id, f));
        } else {
          ids.push_back(id_of(name, f));
        }
        auto& target = seen_sequence ? suffix_ids_ : prefix_ids_;
        target.insert(target.end(), ids.begin(), ids.end());
      } else {
        fields.malformed(f, "expected {\"SpecialToken\": {...}} or {\"Sequence\": {...}}, got " +
                                fields.got(item));
      }
    }
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    for (const char* key : {"cls", "sep"}) {
      const auto& pair = j.contains(key) ? j[key] : nlohmann::json();
      if (!pair.is_array() || pair.empty() || !pair[0].is_string()) {
        fields.malformed(field + "." + key, "expected [\"token\", id]");
      }
      std::int32_t id = id_of(pair[0].get<std::string>(), field + "." + key);
      (std::string(key) == "cls" ? prefix_ids_ : suffix_ids_).push_back(id);
    }
  } else {
    fields.unsupported(field + ".type", "unsupported post-processor \"" + type +
                                            "\" (supported: ByteLevel, TemplateProcessing, "
                                            "RobertaProcessing, BertProcessing, Sequence)");
  }
}

void BpeTokenizer::resolve_bos_eos(const nlohmann::json& tokenizer_config,
                                   const std::string& source) {
  // Preference: tokenizer_config.json (what transformers uses; an explicit null means "none"),
  // then the post-processor's template, then well-known names.
  const auto resolve =
      [&](const char* key, const std::vector<std::int32_t>& template_ids, bool take_first,
          std::initializer_list<const char*> names) -> std::optional<std::int32_t> {
    if (tokenizer_config.is_object() && tokenizer_config.contains(key)) {
      auto name = config_token(tokenizer_config, key);
      if (!name) return std::nullopt;
      auto id = token_to_id(*name);
      if (!id) {
        throw ParseError(source, 0, std::string("tokenizer_config.json:") + key,
                         "token \"" + *name + "\" is not in the tokenizer's vocabulary");
      }
      return id;
    }
    if (!template_ids.empty()) return take_first ? template_ids.front() : template_ids.back();
    for (const char* n : names) {
      if (auto id = token_to_id(n)) return id;
    }
    return std::nullopt;
  };
  bos_id_ = resolve("bos_token", prefix_ids_, true,
                    {"<|begin_of_text|>", "<s>", "<|startoftext|>", "<bos>"});
  eos_id_ = resolve("eos_token", suffix_ids_, false,
                    {"<|end_of_text|>", "<|endoftext|>", "</s>", "<eos>"});

  // transformers' Llama and Gemma tokenizers rebuild the post-processor from add_bos_token and
  // add_eos_token: "[bos] $A [eos]" with each part present only when its flag is true. A flag
  // left out keeps what tokenizer.json's template does on that side.
  if (!tokenizer_config.is_object()) return;
  TokenizerJsonFields fields(source);
  const auto apply = [&](const char* key, const std::optional<std::int32_t>& id,
                         std::vector<std::int32_t>& ids) {
    auto it = tokenizer_config.find(key);
    if (it == tokenizer_config.end() || it->is_null()) return;
    if (!fields.flag(tokenizer_config, key, "tokenizer_config.json")) {
      ids.clear();
      return;
    }
    if (!id) {
      fields.malformed(std::string("tokenizer_config.json:") + key,
                       "is true but the tokenizer has no such token (bos_token/eos_token)");
    }
    ids.assign(1, *id);
  };
  apply("add_bos_token", bos_id_, prefix_ids_);
  apply("add_eos_token", eos_id_, suffix_ids_);
}

}  // namespace oap::detail
