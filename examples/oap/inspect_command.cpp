// oap inspect / oap forget: what the pipeline holds about a user, and removing all of it.

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_args.hpp"
#include "commands.hpp"
#include "personalizer_args.hpp"

namespace oap::cli {
namespace {

std::vector<OptionSpec> options(bool inspect) {
  auto specs = personalizer_option_specs();
  specs.insert(specs.begin(), {"user", true, "The user.", "U"});
  if (inspect) {
    specs.push_back({"decisions", true, "Recent decisions to show (default 20).", "N"});
  }
  return specs;
}

constexpr const char* kInspectHelp =
    "Usage: oap inspect --user U [--data-dir DIR] [OPTIONS]\n\n"
    "Prints one JSON object with what the pipeline in the data directory holds about the user:\n"
    "history size and feature dimension, events decided and seen by the detectors, the\n"
    "policy state (cooldowns, rate limits, probation), the adapter versions (with their\n"
    "training reports) and the current one, the recent decisions with their reasons and the\n"
    "update outcomes.\n\n";

constexpr const char* kForgetHelp =
    "Usage: oap forget --user U [--data-dir DIR] [OPTIONS]\n\n"
    "Removes everything the pipeline holds about the user: history, detector state, adapter\n"
    "versions, audit trail and policy state. Afterwards no byte of the user's text or features\n"
    "remains in the data directory. Prints how many events were removed.\n\n";

std::string user_of(const Args& args) {
  const auto user = args.value("user");
  if (!user) throw UsageError("--user is required");
  return *user;
}

}  // namespace

int run_inspect(int argc, char** argv, int first) {
  const auto specs = options(true);
  Args args(argc, argv, first, specs);
  if (print_help_if_requested(args, kInspectHelp, specs)) return 0;
  const auto user = user_of(args);
  const auto p = open_personalizer(args, /*require_model=*/false);
  const auto n = args.number<std::size_t>("decisions").value_or(20);
  std::cout << p->inspect(user, n).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
            << "\n";
  return 0;
}

int run_forget(int argc, char** argv, int first) {
  const auto specs = options(false);
  Args args(argc, argv, first, specs);
  if (print_help_if_requested(args, kForgetHelp, specs)) return 0;
  const auto user = user_of(args);
  const auto p = open_personalizer(args, /*require_model=*/false);
  const auto n = p->forget(user);
  std::cout << nlohmann::json{{"user", user}, {"events_removed", n}}.dump() << "\n";
  return 0;
}

}  // namespace oap::cli
