#include "llm/tokenizer_json_fields.hpp"

#include <limits>

#include "oap/core/error.hpp"

namespace oap::detail {

void TokenizerJsonFields::malformed(const std::string& field, const std::string& message) const {
  throw ParseError(source_, 0, field, message);
}

void TokenizerJsonFields::unsupported(const std::string& field, const std::string& message) const {
  OAP_THROW(ConfigError, (source_.empty() ? std::string("<input>") : source_) + ": field '" +
                             field + "': " + message);
}

std::string TokenizerJsonFields::got(const nlohmann::json& v) {
  std::string dump = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (dump.size() > 80) dump = dump.substr(0, 77) + "...";
  return std::string(v.type_name()) + " " + dump;
}

const nlohmann::json& TokenizerJsonFields::member(const nlohmann::json& obj, const char* key,
                                                  const std::string& field) const {
  auto it = obj.find(key);
  if (it == obj.end()) malformed(field + "." + key, "missing");
  return *it;
}

std::string TokenizerJsonFields::string(const nlohmann::json& obj, const char* key,
                                        const std::string& field) const {
  const auto& v = member(obj, key, field);
  if (!v.is_string()) malformed(field + "." + key, "expected a string, got " + got(v));
  return v.get<std::string>();
}

bool TokenizerJsonFields::flag(const nlohmann::json& obj, const char* key, const std::string& field,
                               bool fallback) const {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) malformed(field + "." + key, "expected a boolean, got " + got(*it));
  return it->get<bool>();
}

std::size_t TokenizerJsonFields::count(const nlohmann::json& obj, const char* key,
                                       const std::string& field, std::size_t fallback) const {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<long long>() >= 0)) {
    malformed(field + "." + key, "expected a non-negative integer, got " + got(*it));
  }
  return it->get<std::size_t>();
}

std::int32_t TokenizerJsonFields::id(const nlohmann::json& v, const std::string& field) const {
  if (!v.is_number_integer() || v.get<long long>() < 0 ||
      v.get<long long>() > std::numeric_limits<std::int32_t>::max()) {
    malformed(field, "expected a non-negative 32-bit integer id, got " + got(v));
  }
  return static_cast<std::int32_t>(v.get<long long>());
}

std::string TokenizerJsonFields::type(const nlohmann::json& j, const std::string& field) const {
  if (!j.is_object()) malformed(field, "expected an object, got " + got(j));
  return string(j, "type", field);
}

std::string TokenizerJsonFields::pattern(const nlohmann::json& j, const std::string& field,
                                         bool& regex) const {
  if (j.is_object() && j.size() == 1) {
    if (auto it = j.find("Regex"); it != j.end() && it->is_string()) {
      regex = true;
      return it->get<std::string>();
    }
    if (auto it = j.find("String"); it != j.end() && it->is_string()) {
      regex = false;
      return it->get<std::string>();
    }
  }
  malformed(field, "expected {\"Regex\": \"...\"} or {\"String\": \"...\"}, got " + got(j));
}

}  // namespace oap::detail
