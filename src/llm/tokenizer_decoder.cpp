#include "llm/tokenizer_decoder.hpp"

#include "llm/tokenizer_byte_level.hpp"
#include "llm/tokenizer_json_fields.hpp"
#include "llm/tokenizer_metaspace.hpp"
#include "oap/core/error.hpp"

namespace oap::detail {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Replaces every non-overlapping occurrence of from in text with to.
void replace_all(std::string& text, std::string_view from, std::string_view to) {
  std::size_t at = text.find(from);
  if (at == std::string::npos) return;
  std::string out;
  std::size_t last = 0;
  for (; at != std::string::npos; at = text.find(from, last)) {
    out.append(text, last, at - last);
    out += to;
    last = at + from.size();
  }
  out.append(text, last, std::string::npos);
  text = std::move(out);
}

}  // namespace

int byte_fallback_value(std::string_view token) {
  if (token.size() != 6 || token.substr(0, 3) != "<0x" || token[5] != '>') return -1;
  const int hi = hex_digit(token[3]), lo = hex_digit(token[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

Decoder::Decoder(const nlohmann::json& j, const std::string& source) {
  if (j.is_null()) {
    null_ = true;
  } else {
    parse(j, source, "decoder");
  }
}

Decoder::~Decoder() = default;

void Decoder::parse(const nlohmann::json& j, const std::string& source, const std::string& field) {
  TokenizerJsonFields fields(source);
  const std::string type = fields.type(j, field);
  Step step{};
  if (type == "Sequence") {
    const auto& list = fields.member(j, "decoders", field);
    if (!list.is_array()) {
      fields.malformed(field + ".decoders", "expected an array, got " + fields.got(list));
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      parse(list[i], source, field + ".decoders[" + std::to_string(i) + "]");
    }
    return;
  } else if (type == "ByteLevel") {
    step.kind = Kind::kByteLevel;
  } else if (type == "Replace") {
    step.kind = Kind::kReplace;
    bool regex = false;
    step.pattern = fields.pattern(fields.member(j, "pattern", field), field + ".pattern", regex);
    step.content = fields.string(j, "content", field);
    if (regex) {
      try {
        step.regex = std::make_unique<Regex>(step.pattern, /*literal=*/false);
      } catch (const InvalidArgument& e) {
        fields.malformed(field + ".pattern", e.what());
      }
    } else if (step.pattern.empty()) {
      return;  // matches nothing
    }
  } else if (type == "ByteFallback") {
    step.kind = Kind::kByteFallback;
  } else if (type == "Fuse") {
    step.kind = Kind::kFuse;
  } else if (type == "Strip") {
    step.kind = Kind::kStrip;
    step.pattern = fields.string(j, "content", field);
    std::size_t pos = 0;
    if (step.pattern.empty() || !next_code_point(step.pattern, pos) || pos != step.pattern.size()) {
      fields.malformed(field + ".content", "expected one character, got \"" + step.pattern + "\"");
    }
    step.start = fields.count(j, "start", field, 0);
    step.stop = fields.count(j, "stop", field, 0);
  } else if (type == "Metaspace") {
    const MetaspaceSettings m = parse_metaspace(j, fields, field);
    step.kind = Kind::kMetaspace;
    step.pattern = m.replacement;
    step.drop_in_first = m.prepend_scheme != PrependScheme::kNever;
  } else {
    fields.unsupported(field + ".type",
                       "unsupported decoder \"" + type +
                           "\" (supported: Sequence, ByteLevel, Replace, ByteFallback, Fuse, "
                           "Strip, Metaspace)");
  }
  steps_.push_back(std::move(step));
}

std::string Decoder::decode(std::vector<std::string> tokens) const {
  std::string out;
  if (null_) {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out += ' ';
      out += tokens[i];
    }
    return out;
  }
  for (const auto& step : steps_) apply(step, tokens);
  for (const auto& t : tokens) out += t;
  return out;
}

void Decoder::apply(const Step& step, std::vector<std::string>& tokens) {
  switch (step.kind) {
    case Kind::kByteLevel:
      for (auto& t : tokens) {
        if (auto bytes = byte_level_to_bytes(t)) t = std::move(*bytes);
      }
      break;
    case Kind::kReplace:
      for (auto& t : tokens) {
        if (!step.regex) {
          replace_all(t, step.pattern, step.content);
          continue;
        }
        std::string out;
        std::size_t last = 0;
        step.regex->for_each_match(t, [&](std::size_t begin, std::size_t end) {
          out.append(t, last, begin - last);
          out += step.content;
          last = end;
        });
        if (last == 0 && out.empty()) continue;
        out.append(t, last, std::string::npos);
        t = std::move(out);
      }
      break;
    case Kind::kByteFallback: {
      std::vector<std::string> out;
      out.reserve(tokens.size());
      bool in_run = false;
      for (auto& t : tokens) {
        const int byte = byte_fallback_value(t);
        if (byte < 0) {
          out.push_back(std::move(t));
          in_run = false;
        } else if (in_run) {
          out.back() += static_cast<char>(byte);
        } else {
          out.emplace_back(1, static_cast<char>(byte));
          in_run = true;
        }
      }
      tokens = std::move(out);
      break;
    }
    case Kind::kFuse: {
      std::string all;
      for (const auto& t : tokens) all += t;
      tokens.assign(1, std::move(all));
      break;
    }
    case Kind::kStrip:
      for (auto& t : tokens) {
        const std::string& c = step.pattern;
        std::size_t begin = 0, end = t.size();
        for (std::size_t i = 0; i < step.start && t.compare(begin, c.size(), c) == 0; ++i) {
          begin += c.size();
        }
        for (std::size_t i = 0; i < step.stop && end >= begin + c.size() &&
                                t.compare(end - c.size(), c.size(), c) == 0;
             ++i) {
          end -= c.size();
        }
        t = t.substr(begin, end - begin);
      }
      break;
    case Kind::kMetaspace:
      for (std::size_t i = 0; i < tokens.size(); ++i) {
        // Hugging Face drops every replacement character of the first token, not only a leading
        // one (checked against tokenizers 0.23: "▁▁" alone decodes to "").
        replace_all(tokens[i], step.pattern, i == 0 && step.drop_in_first ? "" : " ");
      }
      break;
  }
}

}  // namespace oap::detail
