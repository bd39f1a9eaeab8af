#pragma once
// Typed reads of tokenizer.json fields, with the errors the tokenizer loaders raise. Private to the
// library.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace oap::detail {

// Reads fields of one tokenizer.json (or tokenizer_config.json) and raises errors that name the
// file and the field path ("normalizer.normalizers[1].type"):
//  - ParseError for a malformed file (wrong JSON type, missing field, bad id);
//  - ConfigError for a well-formed setting this library does not implement (an unknown
//    normalizer type, an unsupported option), naming the component, the value and what is
//    supported.
// Holds a reference to source: it must outlive the reader. Stateless otherwise; thread-safe.
class TokenizerJsonFields {
 public:
  explicit TokenizerJsonFields(const std::string& source) : source_(source) {}

  [[noreturn]] void malformed(const std::string& field, const std::string& message) const;
  [[noreturn]] void unsupported(const std::string& field, const std::string& message) const;

  // "string \"abc\"", "number 42", ... (cut at 80 characters), for error messages.
  static std::string got(const nlohmann::json& v);

  // obj[key]; ParseError "missing" if absent. obj must be an object.
  const nlohmann::json& member(const nlohmann::json& obj, const char* key,
                               const std::string& field) const;
  // obj[key] as a string; ParseError if absent or not a string.
  std::string string(const nlohmann::json& obj, const char* key, const std::string& field) const;
  // obj[key] as a boolean; fallback if absent or null, ParseError if not a boolean.
  bool flag(const nlohmann::json& obj, const char* key, const std::string& field,
            bool fallback = false) const;
  // obj[key] as a non-negative integer; fallback if absent or null.
  std::size_t count(const nlohmann::json& obj, const char* key, const std::string& field,
                    std::size_t fallback) const;
  // v as a token id in [0, 2^31); ParseError otherwise.
  std::int32_t id(const nlohmann::json& v, const std::string& field) const;
  // The "type" of a component object: ParseError if j is not an object with a string "type".
  std::string type(const nlohmann::json& j, const std::string& field) const;
  // A {"String": s} or {"Regex": r} pattern (Replace, Split): sets regex and returns the text.
  std::string pattern(const nlohmann::json& j, const std::string& field, bool& regex) const;

  const std::string& source() const { return source_; }

 private:
  const std::string& source_;
};

}  // namespace oap::detail
