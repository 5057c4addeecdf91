// `facet template`: renders one OpenAI-style chat request (JSON on stdin) into the Gemma 4
// prompt text on stdout, byte for byte, with nothing added.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "chat/render.h"
#include "chat/render_request.h"
#include "cli/command.h"
#include "util/error.h"

namespace facet::cli {
namespace {

// TODO(model loader): read the model's config and return Small for E2B/E4B, Large for
// 26B-A4B/31B (e.g. from the layer count or the checkpoint name). Until the loader is
// merged the size has to be given with --size.
chat::ChatRules chat_rules_from_model(const std::string& model_path) {
  fail("--model not supported yet (", model_path, "), use --size small|large");
}

struct TemplateOptions {
  std::string size = "large";
  std::string model_path;
};

int run_template(const TemplateOptions& options) {
  chat::ChatRules rules =
      options.model_path.empty() ? chat::parse_chat_rules(options.size) : chat_rules_from_model(options.model_path);
  std::string input{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  require(!std::cin.bad(), "could not read the request from stdin");
  std::string prompt = chat::render_chat(chat::render_request_from_json_text(input), rules);
  require(std::fwrite(prompt.data(), 1, prompt.size(), stdout) == prompt.size() && std::fflush(stdout) == 0,
          "could not write the prompt to stdout");
  return 0;
}

const CommandRegistration registration("template", [](CLI::App& parent) -> std::function<int()> {
  auto options = std::make_shared<TemplateOptions>();
  CLI::App* command = parent.add_subcommand(
      "template",
      "Render a chat request (OpenAI-style JSON on stdin: messages, tools, enable_thinking, "
      "add_generation_prompt) into the Gemma 4 prompt text on stdout");
  command->add_option("--size", options->size, "Template rules: small (E2B/E4B) or large (26B-A4B/31B)")
      ->check(CLI::IsMember({"small", "large"}))
      ->capture_default_str();
  command->add_option("--model", options->model_path, "Pick the rules from a model file (not supported yet)");
  return [options] { return run_template(*options); };
});

}  // namespace
}  // namespace facet::cli
