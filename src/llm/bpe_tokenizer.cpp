#include "llm/bpe_tokenizer.hpp"

#include <algorithm>
#include <cctype>
#include <limits>

#include "llm/tokenizer_byte_level.hpp"
#include "llm/tokenizer_nfc.hpp"
#include "oap/core/error.hpp"

namespace oap::detail {
namespace {

// Raises the error for one field of tokenizer.json; source is the file path.
class FieldErrors {
 public:
  explicit FieldErrors(const std::string& source) : source_(source) {}
  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw ParseError(source_, 0, field, message);
  }
  std::string got(const nlohmann::json& v) const {
    std::string dump = v.dump();
    if (dump.size() > 80) dump = dump.substr(0, 77) + "...";
    return std::string(v.type_name()) + " " + dump;
  }
  std::int32_t id(const nlohmann::json& v, const std::string& field) const {
    if (!v.is_number_integer() || v.get<long long>() < 0 ||
        v.get<long long>() > std::numeric_limits<std::int32_t>::max()) {
      fail(field, "expected a non-negative 32-bit integer id, got " + got(v));
    }
    return static_cast<std::int32_t>(v.get<long long>());
  }
  bool flag(const nlohmann::json& obj, const char* key, const std::string& field) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return false;
    if (!it->is_boolean()) fail(field + "." + key, "expected a boolean, got " + got(*it));
    return it->get<bool>();
  }
  const std::string& source() const { return source_; }

 private:
  const std::string& source_;
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool is_word_byte(char c) {
  auto b = static_cast<unsigned char>(c);
  return b >= 0x80 || std::isalnum(b) || c == '_';
}

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

}  // namespace

BpeTokenizer::BpeTokenizer(const nlohmann::json& tokenizer, const std::string& source,
                           const nlohmann::json& tokenizer_config) {
  FieldErrors errors(source);
  if (!tokenizer.is_object())
    errors.fail("", "expected a JSON object, got " + errors.got(tokenizer));
  auto model = tokenizer.find("model");
  if (model == tokenizer.end() || model->is_null()) {
    errors.fail("model", "missing (a tokenizer.json needs a \"model\" object)");
  }
  if (!model->is_object()) errors.fail("model", "expected an object, got " + errors.got(*model));

  if (auto n = tokenizer.find("normalizer"); n != tokenizer.end() && !n->is_null()) {
    std::string type = n->is_object() && n->contains("type") ? (*n)["type"].dump() : n->dump();
    // NFC (Qwen2) is accepted for text that is already NFC; see tokenizer_nfc.hpp.
    if (type != "\"NFC\"") {
      errors.fail("normalizer.type", "unsupported normalizer " + type +
                                         " (supported: null, NFC for already-NFC text)");
    }
    nfc_ = true;
  }
  nlohmann::json pre =
      tokenizer.contains("pre_tokenizer") ? tokenizer["pre_tokenizer"] : nlohmann::json();
  pre_tokenizer_ = std::make_unique<PreTokenizer>(pre, source);
  if (!pre_tokenizer_->has_byte_level()) {
    errors.fail("pre_tokenizer",
                "no ByteLevel step: only byte-level BPE is supported (for a SentencePiece-style "
                "tokenizer.json load the model's tokenizer.model instead)");
  }
  if (auto d = tokenizer.find("decoder"); d != tokenizer.end() && !d->is_null()) {
    if (!d->is_object() || !d->contains("type") || (*d)["type"] != "ByteLevel") {
      errors.fail("decoder.type",
                  "unsupported decoder " +
                      (d->is_object() && d->contains("type") ? (*d)["type"].dump() : d->dump()) +
                      " (supported: ByteLevel)");
    }
  }

  parse_model(*model, source);
  if (auto a = tokenizer.find("added_tokens"); a != tokenizer.end() && !a->is_null()) {
    parse_added_tokens(*a, source);
  }
  if (auto p = tokenizer.find("post_processor"); p != tokenizer.end() && !p->is_null()) {
    parse_post_processor(*p, source, "post_processor");
  }
  resolve_bos_eos(tokenizer_config, source);
}

void BpeTokenizer::set_token(std::int32_t id, std::string bytes, Kind kind) {
  auto index = static_cast<std::size_t>(id);
  if (index >= id_kind_.size()) {
    id_kind_.resize(index + 1, Kind::kNone);
    id_bytes_.resize(index + 1);
  }
  id_kind_[index] = kind;
  id_bytes_[index] = std::move(bytes);
}

void BpeTokenizer::parse_model(const nlohmann::json& model, const std::string& source) {
  FieldErrors errors(source);
  auto type = model.find("type");
  if (type != model.end() && !type->is_string()) {
    errors.fail("model.type", "expected a string, got " + errors.got(*type));
  }
  // Old files leave "type" out; a model with merges is BPE, as Hugging Face reads it.
  std::string type_name = type != model.end()        ? type->get<std::string>()
                          : model.contains("merges") ? "BPE"
                                                     : "";
  if (type_name != "BPE") {
    errors.fail("model.type", "unsupported model type \"" + type_name +
                                  "\" (supported: BPE; Unigram/WordPiece/WordLevel are not)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    if (it != model.end() && !it->is_null() &&
        !(it->is_string() && it->get<std::string>().empty())) {
      errors.fail(std::string("model.") + key,
                  "unsupported in byte-level BPE, got " + errors.got(*it));
    }
  }

  auto vocab = model.find("vocab");
  if (vocab == model.end()) errors.fail("model.vocab", "missing");
  if (!vocab->is_object())
    errors.fail("model.vocab", "expected an object, got " + errors.got(*vocab));
  std::unordered_map<std::string, std::int32_t> whole_words;
  std::array<std::int32_t, 256> byte_ids;
  byte_ids.fill(-1);
  const auto& byte_spelling = byte_to_unicode();
  std::unordered_map<std::string, unsigned char> spelling_to_byte;
  for (int b = 0; b < 256; ++b) spelling_to_byte[byte_spelling[b]] = static_cast<unsigned char>(b);

  for (const auto& [token, value] : vocab->items()) {
    std::int32_t id = errors.id(value, "model.vocab[\"" + token + "\"]");
    if (static_cast<std::size_t>(id) < id_kind_.size() && id_kind_[id] != Kind::kNone) {
      errors.fail("model.vocab[\"" + token + "\"]",
                  "id " + std::to_string(id) + " is already used by another token");
    }
    auto bytes = byte_level_to_bytes(token);
    // A token outside the byte alphabet decodes to its own text, as Hugging Face's decoder does.
    set_token(id, bytes ? *bytes : token, Kind::kVocab);
    spelled_to_id_.emplace(token, id);
    if (bytes) whole_words.emplace(*bytes, id);
    if (auto it = spelling_to_byte.find(token); it != spelling_to_byte.end()) {
      byte_ids[it->second] = id;
    }
  }

  auto merges_json = model.find("merges");
  if (merges_json == model.end()) errors.fail("model.merges", "missing");
  if (!merges_json->is_array()) {
    errors.fail("model.merges", "expected an array, got " + errors.got(*merges_json));
  }
  std::vector<BpeModel::Merge> merges;
  merges.reserve(merges_json->size());
  const auto lookup = [&](const std::string& token, const std::string& field) {
    auto it = spelled_to_id_.find(token);
    if (it == spelled_to_id_.end()) {
      errors.fail(field, "token \"" + token + "\" is not in model.vocab");
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
        errors.fail(field, "expected \"left right\" (two tokens, one space), got \"" + s + "\"");
      }
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() &&
               entry[1].is_string()) {
      left = entry[0].get<std::string>();
      right = entry[1].get<std::string>();
    } else {
      errors.fail(field,
                  "expected \"left right\" or [\"left\", \"right\"], got " + errors.got(entry));
    }
    std::int32_t l = lookup(left, field);
    std::int32_t r = lookup(right, field);
    std::int32_t m = lookup(left + right, field);
    merges.push_back({l, r, m});
  }

  bool ignore_merges = errors.flag(model, "ignore_merges", "model");
  std::int32_t unk_id = -1;
  if (auto unk = model.find("unk_token"); unk != model.end() && !unk->is_null()) {
    if (!unk->is_string())
      errors.fail("model.unk_token", "expected a string or null, got " + errors.got(*unk));
    unk_id = lookup(unk->get<std::string>(), "model.unk_token");
  }
  // dropout is a training-time regularizer; encoding here is always deterministic.
  model_ =
      std::make_unique<BpeModel>(byte_ids, merges, std::move(whole_words), ignore_merges, unk_id);
}

void BpeTokenizer::parse_added_tokens(const nlohmann::json& list, const std::string& source) {
  FieldErrors errors(source);
  if (!list.is_array()) errors.fail("added_tokens", "expected an array, got " + errors.got(list));
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& t = list[i];
    const std::string field = "added_tokens[" + std::to_string(i) + "]";
    if (!t.is_object()) errors.fail(field, "expected an object, got " + errors.got(t));
    if (!t.contains("id")) errors.fail(field + ".id", "missing");
    if (!t.contains("content") || !t["content"].is_string()) {
      errors.fail(field + ".content", "expected a string");
    }
    AddedToken added{t["content"].get<std::string>(),  errors.id(t["id"], field + ".id"),
                     errors.flag(t, "special", field), errors.flag(t, "lstrip", field),
                     errors.flag(t, "rstrip", field),  errors.flag(t, "single_word", field)};
    if (added.content.empty()) errors.fail(field + ".content", "is empty");
    auto index = static_cast<std::size_t>(added.id);
    if (index < id_kind_.size() && id_kind_[index] != Kind::kNone &&
        id_bytes_[index] != added.content) {
      // An added token may repeat a vocabulary entry with the same id (GPT-2's <|endoftext|>),
      // but not take over a different token's id.
      auto bytes = byte_level_to_bytes(added.content);
      if (!bytes || *bytes != id_bytes_[index]) {
        errors.fail(field + ".id",
                    "id " + std::to_string(added.id) + " already belongs to another token");
      }
    }
    set_token(added.id, added.content, added.special ? Kind::kSpecial : Kind::kAdded);
    spelled_to_id_[added.content] = added.id;
    added_.push_back(std::move(added));
  }
  std::vector<std::size_t> order(added_.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return added_[a].content.size() > added_[b].content.size();
  });
  for (std::size_t i : order) {
    added_by_first_byte_[static_cast<unsigned char>(added_[i].content[0])].push_back(i);
  }
}

void BpeTokenizer::parse_post_processor(const nlohmann::json& j, const std::string& source,
                                        const std::string& field) {
  FieldErrors errors(source);
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    errors.fail(field + ".type", "expected an object with a string \"type\", got " + errors.got(j));
  }
  const std::string type = j["type"].get<std::string>();
  const auto id_of = [&](const std::string& token, const std::string& f) {
    auto it = spelled_to_id_.find(token);
    if (it == spelled_to_id_.end())
      errors.fail(f, "token \"" + token + "\" is not in the vocabulary");
    return it->second;
  };
  if (type == "ByteLevel") {
    return;  // offsets only; adds no tokens
  } else if (type == "Sequence") {
    const auto& list = j.contains("processors") ? j["processors"] : nlohmann::json();
    if (!list.is_array()) errors.fail(field + ".processors", "expected an array");
    for (std::size_t i = 0; i < list.size(); ++i) {
      parse_post_processor(list[i], source, field + ".processors[" + std::to_string(i) + "]");
    }
  } else if (type == "TemplateProcessing") {
    const auto& single = j.contains("single") ? j["single"] : nlohmann::json();
    if (!single.is_array()) errors.fail(field + ".single", "expected an array");
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
          for (const auto& id : specials[name]["ids"]) ids.push_back(errors.id(id, f));
        } else {
          ids.push_back(id_of(name, f));
        }
        auto& target = seen_sequence ? suffix_ids_ : prefix_ids_;
        target.insert(target.end(), ids.begin(), ids.end());
      } else {
        errors.fail(f, "expected {\"SpecialToken\": {...}} or {\"Sequence\": {...}}, got " +
                           errors.got(item));
      }
    }
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    for (const char* key : {"cls", "sep"}) {
      const auto& pair = j.contains(key) ? j[key] : nlohmann::json();
      if (!pair.is_array() || pair.empty() || !pair[0].is_string()) {
        errors.fail(field + "." + key, "expected [\"token\", id]");
      }
      std::int32_t id = id_of(pair[0].get<std::string>(), field + "." + key);
      (std::string(key) == "cls" ? prefix_ids_ : suffix_ids_).push_back(id);
    }
  } else {
    errors.fail(field + ".type", "unsupported post-processor \"" + type +
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
}

std::optional<std::int32_t> BpeTokenizer::token_to_id(std::string_view token) const {
  auto it = spelled_to_id_.find(std::string(token));
  if (it == spelled_to_id_.end()) return std::nullopt;
  return it->second;
}

const BpeTokenizer::AddedToken* BpeTokenizer::match_added(std::string_view text,
                                                          std::size_t pos) const {
  for (std::size_t i : added_by_first_byte_[static_cast<unsigned char>(text[pos])]) {
    const auto& t = added_[i];
    if (text.compare(pos, t.content.size(), t.content) != 0) continue;
    if (t.single_word) {
      std::size_t end = pos + t.content.size();
      if ((pos > 0 && is_word_byte(text[pos - 1])) ||
          (end < text.size() && is_word_byte(text[end]))) {
        continue;
      }
    }
    return &t;
  }
  return nullptr;
}

void BpeTokenizer::encode_plain(std::string_view text, std::vector<std::int32_t>& out) const {
  if (text.empty()) return;
  std::vector<std::string> words;
  pre_tokenizer_->split(text, words);
  for (const auto& w : words) model_->encode_word(w, out);
}

std::vector<std::int32_t> BpeTokenizer::encode(std::string_view text, bool add_special) const {
  if (nfc_) {
    if (auto at = first_nfc_unstable(text)) {
      std::size_t end = *at;
      next_code_point(text, end);
      OAP_THROW(InvalidArgument,
                "encode: this tokenizer normalizes to Unicode NFC and the text is not certainly "
                "NFC at byte " +
                    std::to_string(*at) + " (\"" + std::string(text.substr(*at, end - *at)) +
                    "\"); NFC composition is not implemented here: normalize the text first");
    }
  }
  std::vector<std::int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special) out.insert(out.end(), prefix_ids_.begin(), prefix_ids_.end());
  std::size_t segment_start = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const AddedToken* t = added_.empty() ? nullptr : match_added(text, pos);
    if (!t) {
      ++pos;
      continue;
    }
    std::size_t begin = pos, end = pos + t->content.size();
    if (t->lstrip) {
      while (begin > segment_start && is_space(text[begin - 1])) --begin;
    }
    if (t->rstrip) {
      while (end < text.size() && is_space(text[end])) ++end;
    }
    encode_plain(text.substr(segment_start, begin - segment_start), out);
    out.push_back(t->id);
    segment_start = pos = end;
  }
  encode_plain(text.substr(segment_start), out);
  if (add_special) out.insert(out.end(), suffix_ids_.begin(), suffix_ids_.end());
  return out;
}

std::string BpeTokenizer::decode(std::span<const std::int32_t> ids, bool skip_special) const {
  std::string out;
  for (std::int32_t id : ids) {
    OAP_CHECK(id >= 0 && static_cast<std::size_t>(id) < id_kind_.size() &&
                  id_kind_[static_cast<std::size_t>(id)] != Kind::kNone,
              InvalidArgument,
              "decode: token id " + std::to_string(id) + " is not in this tokenizer (vocab_size " +
                  std::to_string(id_kind_.size()) + ")");
    auto index = static_cast<std::size_t>(id);
    if (skip_special && id_kind_[index] == Kind::kSpecial) continue;
    out += id_bytes_[index];
  }
  return out;
}

}  // namespace oap::detail
