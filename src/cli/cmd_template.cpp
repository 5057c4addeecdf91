// `facet template`: renders one OpenAI-style chat request (JSON on stdin) into the Gemma 4
// prompt text on stdout, byte for byte, with nothing added. With --ids it prints the
// prompt's token ids as a JSON array instead (tokenizer from --vocab or --model).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>

#include "chat/render.h"
#include "chat/render_request.h"
#include "cli/command.h"
#include "engine/model_files.h"
#include "util/error.h"

namespace facet::cli {
namespace {

struct TemplateOptions {
  std::string size = "large";
  std::string model_path;
  std::string vocab_path;
  bool ids = false;
  bool verbose = false;
};

chat::ChatRules pick_rules(const TemplateOptions& options) {
  if (options.model_path.empty()) return chat::parse_chat_rules(options.size);
  const ChatRulesChoice choice = chat_rules_for_model(options.model_path);
  if (options.verbose)
    std::fprintf(stderr, "chat rules: %s (%s)\n", choice.rules == chat::ChatRules::Large ? "large" : "small",
                 choice.reason.c_str());
  return choice.rules;
}

std::string ids_as_json(const std::vector<int32_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "]";
}

int run_template(const TemplateOptions& options) {
  require(!options.ids || !options.vocab_path.empty() || !options.model_path.empty(),
          "--ids needs a tokenizer: give --vocab PATH or --model PATH");
  require(options.ids || options.vocab_path.empty(), "--vocab is only used with --ids");
  const chat::ChatRules rules = pick_rules(options);
  // Load the tokenizer before reading stdin, so a bad path is reported first.
  std::optional<Tokenizer> tokenizer;
  if (options.ids)
    tokenizer.emplace(options.vocab_path.empty() ? load_model_tokenizer(options.model_path)
                                                 : Tokenizer::from_file(options.vocab_path));
  std::string input{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  require(!std::cin.bad(), "could not read the request from stdin");
  std::string out = chat::render_chat(chat::render_request_from_json_text(input), rules);
  // The prompt carries "<bos>" as text, so the tokenizer adds no BOS of its own.
  if (tokenizer) out = ids_as_json(tokenizer->encode(out));
  require(std::fwrite(out.data(), 1, out.size(), stdout) == out.size() && std::fflush(stdout) == 0,
          "could not write the prompt to stdout");
  return 0;
}

const CommandRegistration registration("template", [](CLI::App& parent) -> std::function<int()> {
  auto options = std::make_shared<TemplateOptions>();
  CLI::App* command = parent.add_subcommand(
      "template",
      "Render a chat request (OpenAI-style JSON on stdin: messages, tools, enable_thinking, "
      "add_generation_prompt) into the Gemma 4 prompt text on stdout");
  auto* size = command->add_option("--size", options->size, "Template rules: small (E2B/E4B) or large (26B-A4B/31B)")
                   ->check(CLI::IsMember({"small", "large"}))
                   ->capture_default_str();
  auto* model = command->add_option(
      "--model", options->model_path,
      "Pick the rules from a model (.gguf or HF folder): its chat template, else per-layer embeddings = small");
  size->excludes(model);
  model->excludes(size);
  command->add_flag("--ids", options->ids, "Print the prompt's token ids as a JSON array instead of the text");
  command->add_option("--vocab", options->vocab_path, "Tokenizer for --ids: tokenizer.json, HF folder or .gguf");
  command->add_flag("-v,--verbose", options->verbose, "Say on stderr which rules were picked and why");
  return [options] { return run_template(*options); };
});

}  // namespace
}  // namespace facet::cli
