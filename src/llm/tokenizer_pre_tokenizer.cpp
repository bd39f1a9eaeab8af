#include "llm/tokenizer_pre_tokenizer.hpp"

#include "oap/core/error.hpp"

namespace oap::detail {
namespace {

[[noreturn]] void bad(const std::string& source, const std::string& field,
                      const std::string& message) {
  throw ParseError(source, 0, field, message);
}

const nlohmann::json& member(const nlohmann::json& j, const char* key, const std::string& source,
                             const std::string& field) {
  auto it = j.find(key);
  if (it == j.end()) bad(source, field + "." + key, "missing");
  return *it;
}

bool optional_bool(const nlohmann::json& j, const char* key, bool fallback,
                   const std::string& source, const std::string& field) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) {
    bad(source, field + "." + key, "expected a boolean, got " + std::string(it->type_name()));
  }
  return it->get<bool>();
}

}  // namespace

const char* PreTokenizer::gpt2_pattern() {
  return R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
}

const char* PreTokenizer::llama3_pattern() {
  return R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}

PreTokenizer::PreTokenizer(const nlohmann::json& j, const std::string& source) {
  if (!j.is_null()) parse(j, source, "pre_tokenizer");
}

PreTokenizer::~PreTokenizer() = default;

void PreTokenizer::parse(const nlohmann::json& j, const std::string& source,
                         const std::string& field) {
  if (!j.is_object()) bad(source, field, "expected an object, got " + std::string(j.type_name()));
  const auto& type_json = member(j, "type", source, field);
  if (!type_json.is_string()) bad(source, field + ".type", "expected a string");
  const std::string type = type_json.get<std::string>();

  if (type == "Sequence") {
    const auto& list = member(j, "pretokenizers", source, field);
    if (!list.is_array()) bad(source, field + ".pretokenizers", "expected an array");
    for (std::size_t i = 0; i < list.size(); ++i) {
      parse(list[i], source, field + ".pretokenizers[" + std::to_string(i) + "]");
    }
  } else if (type == "Split") {
    Step step;
    const auto& pattern = member(j, "pattern", source, field);
    bool literal;
    std::string text;
    if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string()) {
      literal = false;
      text = pattern["Regex"].get<std::string>();
    } else if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string()) {
      literal = true;
      text = pattern["String"].get<std::string>();
    } else {
      bad(source, field + ".pattern",
          "expected {\"Regex\": \"...\"} or {\"String\": \"...\"}, got " + pattern.dump());
    }
    try {
      step.regex = std::make_unique<Regex>(text, literal);
    } catch (const InvalidArgument& e) {
      bad(source, field + ".pattern", e.what());
    }
    const auto& behavior = member(j, "behavior", source, field);
    const std::string b = behavior.is_string() ? behavior.get<std::string>() : behavior.dump();
    if (b == "Removed") {
      step.behavior = Behavior::kRemoved;
    } else if (b == "Isolated") {
      step.behavior = Behavior::kIsolated;
    } else if (b == "MergedWithPrevious") {
      step.behavior = Behavior::kMergedWithPrevious;
    } else if (b == "MergedWithNext") {
      step.behavior = Behavior::kMergedWithNext;
    } else if (b == "Contiguous") {
      step.behavior = Behavior::kContiguous;
    } else {
      bad(source, field + ".behavior",
          "unknown split behavior " + b +
              " (known: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
    }
    step.invert = optional_bool(j, "invert", false, source, field);
    steps_.push_back(std::move(step));
  } else if (type == "ByteLevel") {
    has_byte_level_ = true;
    Step step;
    step.add_prefix_space = optional_bool(j, "add_prefix_space", false, source, field);
    if (optional_bool(j, "use_regex", true, source, field)) {
      step.regex = std::make_unique<Regex>(gpt2_pattern(), false);
    }
    if (step.add_prefix_space || step.regex) steps_.push_back(std::move(step));
  } else if (type == "Digits") {
    // Hugging Face splits on ASCII digits: each one alone, or runs of them.
    Step step;
    bool individual = optional_bool(j, "individual_digits", false, source, field);
    step.regex = std::make_unique<Regex>(individual ? "[0-9]" : "[0-9]+", false);
    steps_.push_back(std::move(step));
  } else {
    bad(source, field + ".type",
        "unsupported pre-tokenizer type \"" + type +
            "\" (supported: Sequence, Split, ByteLevel, Digits; a Metaspace tokenizer.json "
            "is SentencePiece-style: load its tokenizer.model instead)");
  }
}

void PreTokenizer::split(std::string_view text, std::vector<std::string>& words) const {
  if (text.empty()) return;
  if (steps_.empty()) {
    words.emplace_back(text);
    return;
  }
  std::vector<std::string> current{std::string(text)};
  std::vector<std::string> next;
  for (std::size_t s = 0; s < steps_.size(); ++s) {
    std::vector<std::string>& out = (s + 1 == steps_.size()) ? words : next;
    for (const auto& word : current) apply(steps_[s], word, out);
    if (s + 1 < steps_.size()) {
      current.swap(next);
      next.clear();
    }
  }
}

void PreTokenizer::apply(const Step& step, std::string_view word, std::vector<std::string>& out) {
  std::string prefixed;
  if (step.add_prefix_space && (word.empty() || word.front() != ' ')) {
    prefixed = " ";
    prefixed += word;
    word = prefixed;
  }
  if (!step.regex) {
    if (!word.empty()) out.emplace_back(word);
    return;
  }
  // Segments of word in order, each flagged as a match of the pattern (after invert) or not.
  struct Segment {
    std::size_t begin, end;
    bool match;
  };
  std::vector<Segment> segments;
  std::size_t last = 0;
  step.regex->for_each_match(word, [&](std::size_t b, std::size_t e) {
    if (b > last) segments.push_back({last, b, step.invert});
    segments.push_back({b, e, !step.invert});
    last = e;
  });
  if (last < word.size()) segments.push_back({last, word.size(), step.invert});

  const auto piece = [&](const Segment& s) { return word.substr(s.begin, s.end - s.begin); };
  switch (step.behavior) {
    case Behavior::kIsolated:
      for (const auto& s : segments) out.emplace_back(piece(s));
      break;
    case Behavior::kRemoved:
      for (const auto& s : segments) {
        if (!s.match) out.emplace_back(piece(s));
      }
      break;
    case Behavior::kMergedWithPrevious: {
      bool previous_in_out = false;
      for (const auto& s : segments) {
        if (s.match && previous_in_out) {
          out.back() += piece(s);
        } else {
          out.emplace_back(piece(s));
        }
        previous_in_out = true;
      }
      break;
    }
    case Behavior::kMergedWithNext: {
      std::string pending;
      for (const auto& s : segments) {
        if (s.match) {
          pending += piece(s);
        } else {
          out.push_back(pending + std::string(piece(s)));
          pending.clear();
        }
      }
      if (!pending.empty()) out.push_back(std::move(pending));
      break;
    }
    case Behavior::kContiguous: {
      bool previous_match = false;
      for (const auto& s : segments) {
        if (s.match && previous_match) {
          out.back() += piece(s);
        } else {
          out.emplace_back(piece(s));
        }
        previous_match = s.match;
      }
      break;
    }
  }
}

}  // namespace oap::detail
