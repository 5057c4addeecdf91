// Runs a shell command and captures its stdout, stderr and exit code (end-to-end tests
// of the `facet` binary).
#pragma once

#include <string>

namespace facet::test {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// `stdin_text` is fed to the command's standard input.
CommandResult run_command(const std::string& command, const std::string& stdin_text = "");

}  // namespace facet::test
