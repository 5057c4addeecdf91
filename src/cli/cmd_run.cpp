// facet run MODEL --tokens 2,17,9 -n 32 [--temp 0.8 --top-k 40 --top-p 0.95 --min-p 0.05 --seed 1]
// Generates after the prompt and prints the new token ids, space-separated, as they come.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "cli/command.h"
#include "cli/common.h"
#include "model/forward.h"
#include "sampling/sampler.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet::cli {
namespace {

struct RunArgs {
  std::string model;
  std::string tokens;
  int n_predict = 32;
  int threads = 0;
  int64_t ctx_size = 0;
  bool ignore_eos = false;
  bool verbose = false;
  SamplingOptions sampling;
};

int run_generate(const RunArgs& args) {
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  auto model = load_model(args.model);
  std::vector<int32_t> prompt = parse_token_list(args.tokens);
  require(args.n_predict >= 0, "-n must be >= 0");
  Sampler sampler(args.sampling);
  ThreadPool pool(args.threads);
  int64_t ctx = args.ctx_size > 0 ? args.ctx_size : static_cast<int64_t>(prompt.size()) + args.n_predict;
  require(static_cast<int64_t>(prompt.size()) + args.n_predict <= ctx, "the prompt (", prompt.size(),
          " tokens) plus -n ", args.n_predict, " does not fit in --ctx-size ", ctx);
  KvCache cache(model->config, ctx);
  auto t1 = clock::now();

  const int64_t V = model->config.vocab_size;
  std::vector<float> logits = forward(*model, cache, prompt, LogitsFor::LastToken, pool);
  auto t2 = clock::now();
  int generated = 0;
  for (; generated < args.n_predict; ++generated) {
    int32_t next = sampler.sample(logits.data(), V);
    std::printf(generated ? " %d" : "%d", next);
    std::fflush(stdout);
    if (next == model->config.eos_id && !args.ignore_eos) {
      ++generated;
      break;
    }
    if (generated + 1 < args.n_predict) logits = forward(*model, cache, {next}, LogitsFor::LastToken, pool);
  }
  std::printf("\n");
  auto t3 = clock::now();
  if (args.verbose) {
    auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
    std::fprintf(stderr, "load %.3f s, prompt %zu tokens in %.3f s (%.1f t/s), generated %d tokens in %.3f s (%.1f t/s)\n",
                 secs(t1 - t0), prompt.size(), secs(t2 - t1), prompt.size() / secs(t2 - t1), generated,
                 secs(t3 - t2), generated / std::max(1e-9, secs(t3 - t2)));
  }
  return 0;
}

const CommandRegistration kRegistration("run", [](CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Generate tokens after a prompt");
  cmd->add_option("model", args->model, "A .gguf file or a Hugging Face model folder")->required();
  cmd->add_option("--tokens", args->tokens, "Prompt as comma-separated token ids")->required();
  cmd->add_option("-n,--n-predict", args->n_predict, "Tokens to generate")->check(CLI::NonNegativeNumber);
  cmd->add_option("--temp,--temperature", args->sampling.temperature, "Sampling temperature (0 = greedy)");
  cmd->add_option("--top-k", args->sampling.top_k, "Keep the k most likely tokens (0 = off)");
  cmd->add_option("--top-p", args->sampling.top_p, "Nucleus sampling threshold (1 = off)");
  cmd->add_option("--min-p", args->sampling.min_p, "Drop tokens below min-p x the top probability (0 = off)");
  cmd->add_option("-s,--seed", args->sampling.seed, "Random seed");
  cmd->add_option("-t,--threads", args->threads, "Threads (default: all cores)");
  cmd->add_option("-c,--ctx-size", args->ctx_size, "Context size (default: prompt + n)");
  cmd->add_flag("--ignore-eos", args->ignore_eos, "Keep generating after the end-of-sequence token");
  cmd->add_flag("-v,--verbose", args->verbose, "Print timings to stderr");
  return [args] { return run_generate(*args); };
});

}  // namespace
}  // namespace facet::cli
