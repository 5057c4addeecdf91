// The `facet` executable: parses the command line and runs one subcommand.
// Any facet::Error becomes "error: <message>" on stderr and exit code 1.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <map>

#include "cli/command.h"
#include "cli/generation_flags.h"
#include "util/error.h"

namespace facet::cli {

std::vector<RegisteredCommand>& registered_commands() {
  static std::vector<RegisteredCommand> commands;
  return commands;
}

CommandRegistration::CommandRegistration(const char* name, CommandSetup setup) {
  registered_commands().push_back({name, std::move(setup)});
}

}  // namespace facet::cli

int main(int argc, char** argv) {
  using namespace facet;
  // A forward pass allocates its activations afresh (a 512-token MLP step: two 12-25 MiB
  // buffers per layer). glibc would map each from the kernel and unmap it when freed, so every
  // layer paid page faults and the kernel's zeroing again (a third of prompt-processing time
  // on E2B). Keep such blocks in the heap and freed memory with the process instead.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);   // glibc's largest allowed threshold
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  CLI::App app{"facet — a local runtime for Gemma 4 models", "facet"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "facet 0.1.0");

  auto& commands = cli::registered_commands();
  std::sort(commands.begin(), commands.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::map<const CLI::App*, std::function<int()>> runners;
  for (auto& command : commands) {
    size_t before = app.get_subcommands({}).size();
    auto run = command.setup(app);
    auto subs = app.get_subcommands({});
    if (subs.size() > before) runners[subs.back()] = std::move(run);
  }

  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const auto& command : commands) known |= command.name == argv[1];
    if (!known) {
      std::fprintf(stderr, "error: unknown command '%s' (run 'facet --help' for the list)\n", argv[1]);
      return 2;
    }
  }
  // -ctk/-ctv as llama.cpp users type them (CLI11 only knows one-letter short flags).
  std::vector<std::string> args = cli::expand_llama_short_flags(argc, argv);
  std::vector<char*> arg_pointers;
  for (std::string& a : args) arg_pointers.push_back(a.data());
  try {
    app.parse(argc, arg_pointers.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (const CLI::App* sub : app.get_subcommands())
      if (auto it = runners.find(sub); it != runners.end()) return it->second();
    std::fprintf(stderr, "error: no subcommand given\n");
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
