#pragma once
// Runs the oap command-line tool (OAP_CLI, set by tests/cli/CMakeLists.txt) and the examples as a
// user runs them.

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace oap::testing {

struct CliResult {
  int status;          // the exit status; -1 if the tool did not exit normally
  std::string output;  // stdout and stderr together
};

// Runs `program <args> 2>&1` through the shell; args are passed as written (quote as needed).
inline CliResult run_program(const std::string& program, const std::string& args) {
  std::string cmd = program + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed for: " + cmd};
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Runs `oap <args> 2>&1` (see run_program).
inline CliResult run_cli(const std::string& args) { return run_program(OAP_CLI, args); }

}  // namespace oap::testing
