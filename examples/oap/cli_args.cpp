#include "cli_args.hpp"

#include <algorithm>
#include <iostream>

#include "oap/core/logging.hpp"

namespace oap::cli {

Args::Args(int argc, char** argv, int first, const std::vector<OptionSpec>& specs) {
  bool options_done = false;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      help_ = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) throw UsageError("unknown option " + arg);
    std::string name = arg.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto spec = std::find_if(specs.begin(), specs.end(),
                             [&](const OptionSpec& s) { return s.name == name; });
    if (spec == specs.end()) throw UsageError("unknown option --" + name);
    if (!spec->takes_value) {
      if (inline_value) throw UsageError("option --" + name + " takes no value");
      flags_[name] = true;
      continue;
    }
    if (inline_value) {
      values_[name] = *inline_value;
    } else {
      if (i + 1 >= argc)
        throw UsageError("option --" + name + " needs a value (" + spec->value_name + ")");
      values_[name] = argv[++i];
    }
  }
}

std::optional<std::string> Args::value(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

void Args::bad_number(const std::string& name, const std::string& value,
                      const std::string& expected) {
  throw UsageError("option --" + name + " expects " + expected + ", got \"" + value + "\"");
}

ConfigFile config_from(const Args& args) {
  auto path = args.value("config");
  if (!path) return ConfigFile();
  ConfigFile config = ConfigFile::load(*path);
  if (config.has("log")) setup_logging(config.get<LogOptions>("log"));
  return config;
}

std::string format_options(const std::vector<OptionSpec>& specs) {
  std::string out = "Options:\n";
  for (const auto& s : specs) {
    std::string left = "  --" + s.name + (s.takes_value ? " " + s.value_name : "");
    if (left.size() < 28)
      left.resize(28, ' ');
    else
      left += "\n" + std::string(28, ' ');
    out += left + s.help + "\n";
  }
  out += "  -h, --help                Show this help.\n";
  return out;
}

bool print_help_if_requested(const Args& args, const char* help,
                             const std::vector<OptionSpec>& specs) {
  if (!args.help_requested()) return false;
  std::cout << help << format_options(specs);
  return true;
}

}  // namespace oap::cli
