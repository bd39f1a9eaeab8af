#pragma once
// Runs the oap command-line tool (OAP_CLI, set by tests/cli/CMakeLists.txt) and the examples as a
// user runs them.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace oap::testing {

struct CliResult {
  int status;          // the exit status; -1 if the tool did not exit normally
  std::string output;  // stdout, then stderr
  std::string out;     // stdout alone (a document to parse: warnings go to stderr)
};

// Runs `program <args>` through the shell; args are passed as written (quote as needed).
// stderr goes to a temporary file, read after the program exits.
inline CliResult run_program(const std::string& program, const std::string& args) {
  std::string path = (std::filesystem::temp_directory_path() / "oap-cli-stderr-XXXXXX").string();
  const int fd = mkstemp(path.data());
  if (fd < 0) return {-1, "mkstemp failed for " + path, ""};
  close(fd);
  const char* err_path = path.c_str();
  std::string cmd = program + " " + args + " 2>" + err_path;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) {
    std::remove(err_path);
    return {-1, "popen failed for: " + cmd, ""};
  }
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  int status = pclose(pipe);
  std::string err;
  if (FILE* f = std::fopen(err_path, "rb")) {
    while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) err.append(buf, n);
    std::fclose(f);
  }
  std::remove(err_path);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out + err, out};
}

// Runs `oap <args>` (see run_program).
inline CliResult run_cli(const std::string& args) { return run_program(OAP_CLI, args); }

}  // namespace oap::testing
