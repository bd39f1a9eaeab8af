#pragma once
// ConfigFile: the one JSON configuration file of oap's tools, with a section per options struct.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "oap/core/error.hpp"

namespace oap {

// A configuration file such as
//   {"log": {"level": "warn"}, "events": {"timezone": "+05:30"}, "detect": {...}}
// with one section per options struct (docs/configuration.md): log (LogOptions), store
// (StoreOptions), events (EventReaderOptions), csv (CsvEventOptions), detect
// (DetectorBankOptions), model (CausalLMOptions), generation (GenerationOptions), lora
// (LoraConfig), trainer (RapidTrainerOptions), policy (DeviationPolicyOptions), adapters
// (AdapterManagerOptions), text_features (TextFeatureOptions), personalizer
// (UpdatePlanOptions). A program reads
// the sections it needs and ignores the others, so one file serves every command; a top-level
// key that is not one of these names is an error (a typo would otherwise be a silently ignored
// setting). A plain value type; const methods are safe to call concurrently.
class ConfigFile {
 public:
  // An empty configuration: every section absent.
  ConfigFile() = default;
  // j must be a JSON object (or null, read as {}) whose keys are section names; source names
  // it in errors (a file path). Throws ConfigError otherwise.
  ConfigFile(nlohmann::json j, std::string source);
  // load_json_file(path), then as above.
  static ConfigFile load(const std::filesystem::path& path);

  // Every section name, in the order above.
  static const std::vector<std::string>& section_names();

  bool has(const std::string& section) const { return json_.contains(section); }
  // The section converted to T with T's from_json (which checks keys and values, throwing
  // ConfigError), or T{} when the section is absent. section must be one of section_names()
  // (InvalidArgument otherwise: a programming error).
  template <typename T>
  T get(const std::string& section) const {
    return get<T>(section, T{});
  }
  // The same, read over `defaults` (the keys the section leaves out keep their values there),
  // or defaults when the section is absent.
  template <typename T>
  T get(const std::string& section, T defaults) const {
    check_name(section);
    auto it = json_.find(section);
    if (it != json_.end()) it->get_to(defaults);
    return defaults;
  }

  const std::string& source() const { return source_; }

 private:
  static void check_name(const std::string& section);

  nlohmann::json json_ = nlohmann::json::object();
  std::string source_ = "config";
};

}  // namespace oap
