#pragma once
// A small command-line argument parser for the oap tool: "--name value", "--name=value",
// boolean "--flag", and positional arguments.

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace oap::cli {

// A usage error: the tool prints it with a pointer to --help and exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct OptionSpec {
  std::string name;  // without the leading "--"
  bool takes_value;  // false: a flag
  std::string help;
  std::string value_name = "VALUE";
};

class Args {
 public:
  // Parses argv[first..argc) against specs; throws UsageError for an unknown option or a
  // missing value. "--help"/"-h" are always accepted (see help_requested()).
  Args(int argc, char** argv, int first, const std::vector<OptionSpec>& specs);

  bool help_requested() const { return help_; }
  bool flag(const std::string& name) const { return flags_.count(name) > 0; }
  std::optional<std::string> value(const std::string& name) const;
  // The value parsed as a non-negative integer; UsageError naming the option otherwise.
  std::optional<std::size_t> size_value(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  bool help_ = false;
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> flags_;
  std::vector<std::string> positional_;
};

// Formats the option list of a command's --help.
std::string format_options(const std::vector<OptionSpec>& specs);

// If --help was given, prints help followed by the option list to stdout and returns true.
bool print_help_if_requested(const Args& args, const char* help,
                             const std::vector<OptionSpec>& specs);

}  // namespace oap::cli
