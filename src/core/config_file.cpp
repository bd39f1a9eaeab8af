#include "oap/core/config_file.hpp"

#include <algorithm>

#include "oap/core/json_config.hpp"

namespace oap {

const std::vector<std::string>& ConfigFile::section_names() {
  static const std::vector<std::string> kNames = {
      "log",  "store",   "events", "csv",      "detect",        "model",       "generation",
      "lora", "trainer", "policy", "adapters", "text_features", "personalizer"};
  return kNames;
}

void ConfigFile::check_name(const std::string& section) {
  const auto& names = section_names();
  OAP_CHECK(std::find(names.begin(), names.end(), section) != names.end(), InvalidArgument,
            "ConfigFile: \"" + section + "\" is not a configuration section");
}

ConfigFile::ConfigFile(nlohmann::json j, std::string source) : source_(std::move(source)) {
  if (j.is_null()) j = nlohmann::json::object();
  OAP_CHECK(j.is_object(), ConfigError,
            source_ + ": expected a JSON object with a section per options struct, got " +
                std::string(j.type_name()));
  const auto& names = section_names();
  std::string unknown, known;
  for (const auto& [key, value] : j.items()) {
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      unknown += (unknown.empty() ? "\"" : ", \"") + key + "\"";
    }
  }
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  OAP_CHECK(unknown.empty(), ConfigError,
            source_ + ": unknown key(s) " + unknown + " (the sections are " + known +
                "; each options struct has its own section, e.g. {\"detect\": {\"detectors\": "
                "...}}, see docs/configuration.md)");
  json_ = std::move(j);
}

ConfigFile ConfigFile::load(const std::filesystem::path& path) {
  return ConfigFile(load_json_file(path), path.string());
}

}  // namespace oap
