#include "oap/core/json_config.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace oap {

nlohmann::json load_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  OAP_CHECK(in.good(), IoError,
            "cannot open JSON file " + path.string() + ": " + std::strerror(errno));
  std::stringstream buffer;
  buffer << in.rdbuf();
  OAP_CHECK(!in.bad(), IoError, "cannot read JSON file " + path.string());
  std::string text = buffer.str();
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // Turn the byte offset into line:column, which is what a person looks for.
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    OAP_THROW(ConfigError, path.string() + ":" + std::to_string(line) + ":" +
                               std::to_string(column) + ": invalid JSON: " + e.what());
  }
}

namespace {
const nlohmann::json kEmptyObject = nlohmann::json::object();
}  // namespace

JsonObjectReader::JsonObjectReader(const nlohmann::json& j, std::string context)
    : object_(j.is_null() ? &kEmptyObject : &j), context_(std::move(context)) {
  OAP_CHECK(object_->is_object(), ConfigError,
            context_ + ": expected a JSON object, got " + std::string(j.type_name()));
}

const nlohmann::json& JsonObjectReader::raw(const std::string& key) {
  static const nlohmann::json kNull;
  seen_.insert(key);
  auto it = object_->find(key);
  return it == object_->end() ? kNull : *it;
}

const nlohmann::json& JsonObjectReader::require_raw(const std::string& key) {
  seen_.insert(key);
  auto it = object_->find(key);
  OAP_CHECK(it != object_->end(), ConfigError, context_ + "." + key + ": missing");
  return *it;
}

std::vector<double> JsonObjectReader::numbers(const std::string& key, std::size_t size) {
  const nlohmann::json& v = require_raw(key);
  if (!v.is_array()) type_error(key, "an array of numbers", v);
  OAP_CHECK(size == kAnySize || v.size() == size, ConfigError,
            context_ + "." + key + ": expected " + std::to_string(size) + " values, got " +
                std::to_string(v.size()));
  std::vector<double> out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    OAP_CHECK(v[i].is_number() && std::isfinite(v[i].get<double>()), ConfigError,
              context_ + "." + key + "[" + std::to_string(i) + "]: expected a finite number");
    out.push_back(v[i].get<double>());
  }
  return out;
}

void JsonObjectReader::finish() const {
  std::string unknown;
  for (const auto& [key, value] : object_->items()) {
    if (!seen_.count(key)) unknown += (unknown.empty() ? "" : ", ") + ("\"" + key + "\"");
  }
  std::string known;
  for (const auto& k : seen_) known += (known.empty() ? "" : ", ") + k;
  OAP_CHECK(unknown.empty(), ConfigError,
            context_ + ": unknown key(s) " + unknown + " (known: " + known + ")");
}

void JsonObjectReader::type_error(const std::string& key, const char* expected,
                                  const nlohmann::json& v) const {
  OAP_THROW(ConfigError, context_ + "." + key + ": expected " + expected + ", got " +
                             std::string(v.type_name()) + " " + v.dump());
}

}  // namespace oap
