#pragma once
// Loading JSON files, and reading typed fields of JSON objects (options, configs, saved state)
// with clear errors.

#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "oap/core/error.hpp"

namespace oap {

// Reads and parses a JSON file: oap's one way to read a JSON file (configs, config.json,
// tokenizer.json, adapter_config.json, saved state). Throws IoError naming the file if it cannot
// be read, and ConfigError naming the file, line and column ("c.json:3:9: invalid JSON: ...") if
// it is not valid JSON.
nlohmann::json load_json_file(const std::filesystem::path& path);

// Reads typed fields of one JSON object (an options struct, a Hugging Face config, a detector's
// saved state), with errors that name the full path of the field ("store.batch_size: expected
// a non-negative integer, got string \"x\""): optional fields with get(), required ones with
// require(). finish() rejects keys that were never asked for, so a typo in a config file is an
// error, not a silently ignored setting.
// Not thread-safe; a short-lived helper used inside from_json and load functions. The JSON is
// borrowed, not copied: it must outlive the reader.
class JsonObjectReader {
 public:
  // Any size, for numbers().
  static constexpr std::size_t kAnySize = static_cast<std::size_t>(-1);

  // j must be an object (or null, read as {}); context names it in errors ("store").
  JsonObjectReader(const nlohmann::json& j, std::string context);
  JsonObjectReader(nlohmann::json&& j, std::string context) = delete;  // would dangle

  // The value of key converted to T, or fallback if the key is absent.
  template <typename T>
  T get(const std::string& key, const T& fallback) {
    seen_.insert(key);
    auto it = object_->find(key);
    if (it == object_->end()) return fallback;
    return convert<T>(key, *it);
  }

  // The value of key converted to T; ConfigError "<context>.<key>: missing" if it is absent.
  template <typename T>
  T require(const std::string& key) {
    return convert<T>(key, require_raw(key));
  }

  // The raw JSON under key, or nullptr (JSON null) if absent.
  const nlohmann::json& raw(const std::string& key);
  // The raw JSON under key; ConfigError "<context>.<key>: missing" if it is absent.
  const nlohmann::json& require_raw(const std::string& key);

  // The required array under key, of finite numbers, with exactly `size` elements unless size
  // is kAnySize. ConfigError naming the element ("zscore.mean[2]") otherwise.
  std::vector<double> numbers(const std::string& key, std::size_t size = kAnySize);

  // Throws ConfigError listing keys that no get()/raw() asked for.
  void finish() const;

  const std::string& context() const { return context_; }

 private:
  template <typename T>
  T convert(const std::string& key, const nlohmann::json& v) const {
    check_type<T>(key, v);
    try {
      return v.template get<T>();
    } catch (const nlohmann::json::exception& e) {
      OAP_THROW(ConfigError, context_ + "." + key + ": " + e.what());
    }
  }

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

  const nlohmann::json* object_;
  std::string context_;
  std::set<std::string> seen_;
};

}  // namespace oap
