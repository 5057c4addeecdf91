// Subcommand registry: each src/cli/cmd_*.cpp file defines one `facet` subcommand and
// registers it with a static FACET_COMMAND object, so adding a subcommand touches no
// other file.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace facet::cli {

// Adds the subcommand's options to `parent` and returns the function that runs it
// (returning the process exit code) once the command line has been parsed.
using CommandSetup = std::function<std::function<int()>(CLI::App& parent)>;

struct CommandRegistration {
  CommandRegistration(const char* name, CommandSetup setup);
};

struct RegisteredCommand {
  std::string name;
  CommandSetup setup;
};
std::vector<RegisteredCommand>& registered_commands();

}  // namespace facet::cli
