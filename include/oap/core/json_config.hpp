#pragma once
// Loading JSON configuration files, and reading options structs from JSON with clear errors.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "oap/core/error.hpp"

namespace oap {

// Reads and parses a JSON file. Throws IoError if it cannot be read and ConfigError naming the
// file, line and column if it is not valid JSON.
nlohmann::json load_json_file(const std::filesystem::path& path);

// Reads typed fields of one JSON object that configures an options struct, with errors that
// name the full path of the field ("store.batch_size: expected an unsigned integer, got
// string \"x\""). finish() rejects keys that were never asked for, so a typo in a config file
// is an error, not a silently ignored setting.
// Not thread-safe; a short-lived helper used inside from_json functions.
class JsonObjectReader {
 public:
  // j must be an object (or null, read as {}); context names it in errors ("store").
  JsonObjectReader(const nlohmann::json& j, std::string context);

  // The value of key converted to T, or fallback if the key is absent.
  template <typename T>
  T get(const std::string& key, const T& fallback) {
    seen_.insert(key);
    auto it = object_.find(key);
    if (it == object_.end()) return fallback;
    check_type<T>(key, *it);
    try {
      return it->template get<T>();
    } catch (const nlohmann::json::exception& e) {
      OAP_THROW(ConfigError, context_ + "." + key + ": " + e.what());
    }
  }

  // The raw JSON under key, or nullptr (JSON null) if absent.
  const nlohmann::json& raw(const std::string& key);

  // Throws ConfigError listing keys that no get()/raw() asked for.
  void finish() const;

  const std::string& context() const { return context_; }

 private:
  template <typename T>
  void check_type(const std::string& key, const nlohmann::json& v) const {
    bool ok;
    const char* expected;
    if constexpr (std::is_same_v<T, bool>) {
      ok = v.is_boolean();
      expected = "a boolean";
    } else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>) {
      ok = v.is_number_unsigned() || (v.is_number_integer() && v.get<long long>() >= 0);
      expected = "a non-negative integer";
    } else if constexpr (std::is_integral_v<T>) {
      ok = v.is_number_integer();
      expected = "an integer";
    } else if constexpr (std::is_floating_point_v<T>) {
      ok = v.is_number();
      expected = "a number";
    } else if constexpr (std::is_convertible_v<T, std::string>) {
      ok = v.is_string();
      expected = "a string";
    } else {
      ok = true;
      expected = "";
    }
    if (!ok) type_error(key, expected, v);
  }
  [[noreturn]] void type_error(const std::string& key, const char* expected,
                               const nlohmann::json& v) const;

  nlohmann::json object_;
  std::string context_;
  std::set<std::string> seen_;
};

}  // namespace oap
