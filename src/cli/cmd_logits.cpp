// facet logits MODEL --tokens 2,17,9 [--lora ADAPTER[:SCALE] ...]
// Prints the logits of every position as one JSON array of arrays (positions × vocab)
// and nothing else on stdout.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/command.h"
#include "cli/common.h"
#include "cli/lora_flags.h"
#include "model/forward.h"
#include "model/weight_packing.h"
#include "util/thread_pool.h"

namespace facet::cli {
namespace {

struct LogitsArgs {
  std::string model;
  std::string tokens;
  int threads = 0;
  int64_t batch = 512;
  LoraFlags lora;
};

int run_logits(const LogitsArgs& args) {
  auto model = load_model_for_inference(args.model);
  apply_lora_flags(*model, args.lora, false);
  std::vector<int32_t> tokens = parse_token_list(args.tokens);
  ThreadPool pool(args.threads);
  KvCache cache(model->config, static_cast<int64_t>(tokens.size()));
  std::vector<float> logits = forward(*model, cache, tokens, LogitsFor::AllTokens, pool, args.batch);
  const size_t V = static_cast<size_t>(model->config.vocab_size);
  std::string out = "[";
  out.reserve(logits.size() * 12);
  for (size_t t = 0; t < tokens.size(); ++t) {
    out += t ? ",\n[" : "\n[";
    for (size_t i = 0; i < V; ++i) {
      if (i) out += ',';
      append_json_float(out, logits[t * V + i]);
    }
    out += ']';
  }
  out += "\n]\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

const CommandRegistration kRegistration("logits", [](CLI::App& app) {
  auto args = std::make_shared<LogitsArgs>();
  CLI::App* cmd = app.add_subcommand("logits", "Print the logits of every input position as JSON");
  cmd->add_option("model", args->model, "A .gguf file or a Hugging Face model folder")->required();
  cmd->add_option("--tokens", args->tokens, "Comma-separated token ids, e.g. 2,17,9")->required();
  cmd->add_option("-t,--threads", args->threads, "Threads (default: all cores)");
  cmd->add_option("-b,--batch-size", args->batch, "Tokens per forward micro-batch")->check(CLI::PositiveNumber);
  add_lora_flags(*cmd, args->lora);
  return [args] { return run_logits(*args); };
});

}  // namespace
}  // namespace facet::cli
