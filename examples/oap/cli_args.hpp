#pragma once
// A small command-line argument parser for the oap tool: "--name value", "--name=value",
// boolean "--flag", and positional arguments.

#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "oap/core/config_file.hpp"
#include "oap/core/parse_number.hpp"

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
  // The value of option `name` as a number of type T (an integer type, or double), parsed by
  // the library's one strict number parser (parse_number): nullopt if the option was not given;
  // a UsageError naming the option and the value for anything but one number of that type
  // ("0.7x", "", "nan", "inf", "-1" for an unsigned type) or a value outside T's range.
  template <typename T>
  std::optional<T> number(const std::string& name) const {
    auto v = value(name);
    if (!v) return std::nullopt;
    if (auto n = parse_number<T>(*v)) return n;
    if constexpr (std::is_floating_point_v<T>) {
      bad_number(name, *v, "a finite number");
    } else {
      // Only digits (after a sign the type allows): the form is right, the value too large.
      std::string_view digits = *v;
      if (!digits.empty() && (digits[0] == '+' || (digits[0] == '-' && std::is_signed_v<T>))) {
        digits.remove_prefix(1);
      }
      const bool out_of_range =
          !digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos;
      std::string expected =
          std::is_unsigned_v<T> ? "a non-negative integer" : std::string("an integer");
      if (out_of_range) {
        expected += std::is_unsigned_v<T>
                        ? " no larger than " + std::to_string(std::numeric_limits<T>::max())
                        : " from " + std::to_string(std::numeric_limits<T>::min()) + " to " +
                              std::to_string(std::numeric_limits<T>::max());
      }
      bad_number(name, *v, expected);
    }
  }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  [[noreturn]] static void bad_number(const std::string& name, const std::string& value,
                                      const std::string& expected);

  bool help_ = false;
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> flags_;
  std::vector<std::string> positional_;
};

// The file given with --config (ConfigFile::load: one JSON object with a section per options
// struct), or an empty configuration without --config. If the file has a "log" section, the
// library's logging is set up from it.
ConfigFile config_from(const Args& args);

// Formats the option list of a command's --help.
std::string format_options(const std::vector<OptionSpec>& specs);

// If --help was given, prints help followed by the option list to stdout and returns true.
bool print_help_if_requested(const Args& args, const char* help,
                             const std::vector<OptionSpec>& specs);

}  // namespace oap::cli
