#include "llm/tokenizer_normalizer.hpp"

#include "llm/tokenizer_byte_level.hpp"
#include "llm/tokenizer_json_fields.hpp"
#include "llm/tokenizer_nfc.hpp"
#include "oap/core/error.hpp"

namespace oap::detail {

Normalizer::Normalizer(const nlohmann::json& j, const std::string& source) {
  if (!j.is_null()) parse(j, source, "normalizer");
}

Normalizer::~Normalizer() = default;

void Normalizer::parse(const nlohmann::json& j, const std::string& source,
                       const std::string& field) {
  TokenizerJsonFields fields(source);
  const std::string type = fields.type(j, field);
  if (type == "Sequence") {
    const auto& list = fields.member(j, "normalizers", field);
    if (!list.is_array()) {
      fields.malformed(field + ".normalizers", "expected an array, got " + fields.got(list));
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      parse(list[i], source, field + ".normalizers[" + std::to_string(i) + "]");
    }
  } else if (type == "Prepend") {
    Step step{Kind::kPrepend, fields.string(j, "prepend", field), "", nullptr};
    if (!step.text.empty()) {
      identity_ = false;
      steps_.push_back(std::move(step));
    }
  } else if (type == "Replace") {
    bool regex = false;
    std::string pattern =
        fields.pattern(fields.member(j, "pattern", field), field + ".pattern", regex);
    Step step{Kind::kReplace, std::move(pattern), fields.string(j, "content", field), nullptr};
    if (regex) {
      try {
        step.regex = std::make_unique<Regex>(step.text, /*literal=*/false);
      } catch (const InvalidArgument& e) {
        fields.malformed(field + ".pattern", e.what());
      }
    } else if (step.text.empty()) {
      return;  // an empty String pattern matches nothing in Hugging Face's Replace
    }
    identity_ = false;
    steps_.push_back(std::move(step));
  } else if (type == "NFC") {
    nfc_ = true;
  } else {
    fields.unsupported(field + ".type",
                       "unsupported normalizer \"" + type +
                           "\" (supported: Sequence, Prepend, Replace, NFC for text that is "
                           "already NFC)");
  }
}

void Normalizer::check(std::string_view text) const {
  if (!nfc_) return;
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

void Normalizer::normalize(std::string& text) const {
  for (const auto& step : steps_) {
    if (step.kind == Kind::kPrepend) {
      // Hugging Face's Prepend leaves an empty text empty.
      if (!text.empty()) text.insert(0, step.text);
      continue;
    }
    if (step.kind != Kind::kReplace) continue;
    std::string out;
    std::size_t last = 0;
    if (step.regex) {
      step.regex->for_each_match(text, [&](std::size_t begin, std::size_t end) {
        out.append(text, last, begin - last);
        out += step.content;
        last = end;
      });
    } else {
      for (std::size_t at = text.find(step.text); at != std::string::npos;
           at = text.find(step.text, last)) {
        out.append(text, last, at - last);
        out += step.content;
        last = at + step.text.size();
      }
    }
    if (last == 0 && out.empty()) continue;  // no match
    out.append(text, last, std::string::npos);
    text = std::move(out);
  }
}

}  // namespace oap::detail
