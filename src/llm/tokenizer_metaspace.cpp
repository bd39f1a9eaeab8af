#include "llm/tokenizer_metaspace.hpp"

#include "llm/tokenizer_byte_level.hpp"
#include "llm/tokenizer_json_fields.hpp"

namespace oap::detail {

MetaspaceSettings parse_metaspace(const nlohmann::json& j, const TokenizerJsonFields& fields,
                                  const std::string& field) {
  MetaspaceSettings s;
  s.replacement = fields.string(j, "replacement", field);
  std::size_t pos = 0;
  if (s.replacement.empty() || !next_code_point(s.replacement, pos) ||
      pos != s.replacement.size()) {
    fields.malformed(field + ".replacement",
                     "expected one character, got \"" + s.replacement + "\"");
  }
  s.split = fields.flag(j, "split", field, true);
  auto scheme = j.find("prepend_scheme");
  const bool has_scheme = scheme != j.end() && !scheme->is_null();
  if (has_scheme) {
    const std::string name = scheme->is_string() ? scheme->get<std::string>() : "";
    if (name == "always") {
      s.prepend_scheme = PrependScheme::kAlways;
    } else if (name == "first") {
      s.prepend_scheme = PrependScheme::kFirst;
    } else if (name == "never") {
      s.prepend_scheme = PrependScheme::kNever;
    } else {
      fields.malformed(field + ".prepend_scheme",
                       "expected \"always\", \"first\" or \"never\", got " + fields.got(*scheme));
    }
  }
  if (!fields.flag(j, "add_prefix_space", field, true)) {
    if (has_scheme && s.prepend_scheme != PrependScheme::kNever) {
      fields.malformed(field + ".add_prefix_space",
                       "false contradicts prepend_scheme " + fields.got(*scheme));
    }
    s.prepend_scheme = PrependScheme::kNever;
  }
  return s;
}

}  // namespace oap::detail
