#include "llm/tokenizer_pre_tokenizer.hpp"

#include "llm/tokenizer_json_fields.hpp"
#include "llm/tokenizer_metaspace.hpp"
#include "oap/core/error.hpp"

namespace oap::detail {

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
  TokenizerJsonFields fields(source);
  const std::string type = fields.type(j, field);

  if (type == "Sequence") {
    const auto& list = fields.member(j, "pretokenizers", field);
    if (!list.is_array()) {
      fields.malformed(field + ".pretokenizers", "expected an array, got " + fields.got(list));
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      parse(list[i], source, field + ".pretokenizers[" + std::to_string(i) + "]");
    }
  } else if (type == "Split") {
    Step step;
    bool regex = false;
    std::string text =
        fields.pattern(fields.member(j, "pattern", field), field + ".pattern", regex);
    try {
      step.regex = std::make_unique<Regex>(text, /*literal=*/!regex);
    } catch (const InvalidArgument& e) {
      fields.malformed(field + ".pattern", e.what());
    }
    const auto& behavior = fields.member(j, "behavior", field);
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
      fields.malformed(field + ".behavior",
                       "unknown split behavior " + b +
                           " (known: Removed, Isolated, MergedWithPrevious, MergedWithNext, "
                           "Contiguous)");
    }
    step.invert = fields.flag(j, "invert", field);
    steps_.push_back(std::move(step));
  } else if (type == "ByteLevel") {
    has_byte_level_ = true;
    Step step;
    if (fields.flag(j, "add_prefix_space", field)) step.prefix.assign(1, ' ');
    if (fields.flag(j, "use_regex", field, true)) {
      step.regex = std::make_unique<Regex>(gpt2_pattern(), false);
    }
    if (!step.prefix.empty() || step.regex) steps_.push_back(std::move(step));
  } else if (type == "Digits") {
    // Hugging Face splits on ASCII digits: each one alone, or runs of them.
    Step step;
    bool individual = fields.flag(j, "individual_digits", field);
    step.regex = std::make_unique<Regex>(individual ? "[0-9]" : "[0-9]+", false);
    steps_.push_back(std::move(step));
  } else if (type == "Metaspace") {
    const MetaspaceSettings m = parse_metaspace(j, fields, field);
    Step step;
    step.space_replacement = m.replacement;
    if (m.prepend_scheme != PrependScheme::kNever) step.prefix = m.replacement;
    step.prefix_first_only = m.prepend_scheme == PrependScheme::kFirst;
    if (m.split) {
      step.regex = std::make_unique<Regex>(m.replacement, /*literal=*/true);
      step.behavior = Behavior::kMergedWithNext;
    }
    steps_.push_back(std::move(step));
  } else {
    fields.unsupported(field + ".type",
                       "unsupported pre-tokenizer type \"" + type +
                           "\" (supported: Sequence, Split, ByteLevel, Digits, Metaspace)");
  }
}

void PreTokenizer::split(std::string_view text, std::vector<std::string>& words,
                         bool at_start) const {
  if (text.empty()) return;
  if (steps_.empty()) {
    words.emplace_back(text);
    return;
  }
  std::vector<std::string> current{std::string(text)};
  std::vector<std::string> next;
  // Whether current[0] starts where text starts (Metaspace "first" prepends only there).
  bool first_at_start = at_start;
  for (std::size_t s = 0; s < steps_.size(); ++s) {
    std::vector<std::string>& out = (s + 1 == steps_.size()) ? words : next;
    const std::size_t before = out.size();
    for (std::size_t w = 0; w < current.size(); ++w) {
      const bool word_at_start = w == 0 && first_at_start;
      const std::size_t size = out.size();
      const bool kept_start = apply(steps_[s], current[w], word_at_start, out);
      if (w == 0) first_at_start = word_at_start && kept_start && out.size() > size;
    }
    if (out.size() == before) return;  // everything removed
    if (s + 1 < steps_.size()) {
      current.swap(next);
      next.clear();
    }
  }
}

bool PreTokenizer::apply(const Step& step, std::string_view word, bool at_start,
                         std::vector<std::string>& out) {
  std::string rewritten;
  if (!step.space_replacement.empty() && word.find(' ') != std::string_view::npos) {
    rewritten.reserve(word.size() + 8);
    for (char c : word) {
      if (c == ' ') {
        rewritten += step.space_replacement;
      } else {
        rewritten += c;
      }
    }
    word = rewritten;
  }
  if (!step.prefix.empty() && (!step.prefix_first_only || at_start) &&
      word.substr(0, step.prefix.size()) != step.prefix) {
    std::string prefixed = step.prefix;
    prefixed += word;
    rewritten = std::move(prefixed);
    word = rewritten;
  }
  if (!step.regex) {
    if (!word.empty()) out.emplace_back(word);
    return true;
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

  // The behaviors as Hugging Face tokenizers defines them: a match merges with its neighbour only
  // when that neighbour is not a match itself ("a--b" MergedWithPrevious: "a-", "-", "b").
  const auto piece = [&](const Segment& s) { return word.substr(s.begin, s.end - s.begin); };
  bool kept_start = true;
  switch (step.behavior) {
    case Behavior::kIsolated:
      for (const auto& s : segments) out.emplace_back(piece(s));
      break;
    case Behavior::kRemoved:
      kept_start = segments.empty() || !segments.front().match;
      for (const auto& s : segments) {
        if (!s.match) out.emplace_back(piece(s));
      }
      break;
    case Behavior::kMergedWithPrevious:
      for (std::size_t i = 0; i < segments.size(); ++i) {
        if (segments[i].match && i > 0 && !segments[i - 1].match) {
          out.back() += piece(segments[i]);
        } else {
          out.emplace_back(piece(segments[i]));
        }
      }
      break;
    case Behavior::kMergedWithNext:
      for (std::size_t i = 0; i < segments.size(); ++i) {
        if (segments[i].match && i + 1 < segments.size() && !segments[i + 1].match) {
          out.emplace_back(word.substr(segments[i].begin, segments[i + 1].end - segments[i].begin));
          ++i;
        } else {
          out.emplace_back(piece(segments[i]));
        }
      }
      break;
    case Behavior::kContiguous:
      for (std::size_t i = 0; i < segments.size(); ++i) {
        if (segments[i].match && i > 0 && segments[i - 1].match) {
          out.back() += piece(segments[i]);
        } else {
          out.emplace_back(piece(segments[i]));
        }
      }
      break;
  }
  return kept_start;
}

}  // namespace oap::detail
