#include "oap/core/json_config.hpp"

#include <fstream>
#include <sstream>

namespace oap {

nlohmann::json load_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  OAP_CHECK(in.good(), IoError, "cannot open config file " + path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
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

JsonObjectReader::JsonObjectReader(const nlohmann::json& j, std::string context)
    : object_(j.is_null() ? nlohmann::json::object() : j), context_(std::move(context)) {
  OAP_CHECK(object_.is_object(), ConfigError,
            context_ + ": expected a JSON object, got " + std::string(j.type_name()));
}

const nlohmann::json& JsonObjectReader::raw(const std::string& key) {
  static const nlohmann::json kNull;
  seen_.insert(key);
  auto it = object_.find(key);
  return it == object_.end() ? kNull : *it;
}

void JsonObjectReader::finish() const {
  std::string unknown;
  for (const auto& [key, value] : object_.items()) {
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
