// facet perplexity MODEL FILE [-c 512] [--stride N] [-b 512] [--chunks N] [--kl-base BASE] [--json]
// Perplexity of MODEL over a UTF-8 text file, windowed as llama-perplexity does by default
// (see engine/perplexity.h), or with a sliding --stride. With --kl-base, the same windows
// also run on BASE (a higher-precision file of the same model) and the distance of MODEL's
// next-token distributions from BASE's is reported: mean KL(base || model) with its
// percentiles, top-1 agreement, mean change of the next token's log-probability, and both
// perplexities. Progress goes to stderr, results to stdout (one JSON object with --json).
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cli/command.h"
#include "engine/model_files.h"
#include "engine/perplexity.h"
#include "model/weight_packing.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet::cli {
namespace {

struct PerplexityArgs {
  std::string model;
  std::string text_file;
  PerplexityOptions options;
  std::string kl_base;
  std::optional<int> threads;
  bool json = false;
};

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "cannot open text file ", path);
  std::ostringstream text;
  text << in.rdbuf();
  require(!in.bad(), "cannot read text file ", path);
  return text.str();
}

nlohmann::json quantiles_json(const QuantileSummary& q) {
  return {{"mean", q.mean}, {"median", q.median}, {"p90", q.p90}, {"p95", q.p95}, {"p99", q.p99}, {"max", q.max}};
}

void print_result(const PerplexityArgs& args, const PerplexityResult& r, int64_t text_tokens) {
  const char* mode = args.options.stride > 0 ? "sliding" : "llama-perplexity chunks";
  if (args.json) {
    nlohmann::json j = {{"model", args.model},
                        {"text_tokens", text_tokens},
                        {"context", args.options.context},
                        {"stride", args.options.stride},
                        {"windows", r.windows},
                        {"scored_tokens", r.scored_tokens},
                        {"nll", r.nll},
                        {"ppl", r.ppl},
                        {"ppl_error", r.ppl_error},
                        {"window_ppl", r.window_ppl}};
    if (r.has_base) {
      j["base"] = {{"model", args.kl_base}, {"ppl", r.base_ppl}, {"ppl_error", r.base_ppl_error}};
      j["kl_divergence"] = quantiles_json(r.kl);
      j["top1_agreement"] = r.top1_agreement;
      j["mean_delta_logprob"] = r.mean_delta_logprob;
    }
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("%lld windows of %lld tokens (%s), %lld tokens scored\n", static_cast<long long>(r.windows),
              static_cast<long long>(args.options.context), mode, static_cast<long long>(r.scored_tokens));
  std::printf("PPL = %.4f +/- %.4f\n", r.ppl, r.ppl_error);
  if (!r.has_base) return;
  std::printf("base PPL = %.4f +/- %.4f  (%s)\n", r.base_ppl, r.base_ppl_error, args.kl_base.c_str());
  std::printf("ln(PPL/base PPL) = %.6f\n", std::log(r.ppl / r.base_ppl));
  std::printf("KL divergence (base || model), nats: mean %.6f, median %.6f, p90 %.6f, p95 %.6f, p99 %.6f, max %.6f\n",
              r.kl.mean, r.kl.median, r.kl.p90, r.kl.p95, r.kl.p99, r.kl.max);
  std::printf("top-1 agreement = %.3f%%\n", 100.0 * r.top1_agreement);
  std::printf("mean delta log-prob of the next token = %.6f\n", r.mean_delta_logprob);
}

int run_perplexity(const PerplexityArgs& args) {
  require(!args.threads || *args.threads >= 1, "-t/--threads must be at least 1 (got ", args.threads.value_or(0), ")");
  require(args.options.batch >= 1, "-b/--batch-size must be at least 1 (got ", args.options.batch, ")");
  const Tokenizer tokenizer = load_model_tokenizer(args.model);
  const std::string text = read_text_file(args.text_file);
  const std::vector<int32_t> stream = tokenizer.encode(text);  // windows add BOS themselves
  const std::vector<EvalWindow> windows = perplexity_windows(stream, tokenizer.bos_id(), args.options);

  auto model = load_model_for_inference(args.model);
  std::unique_ptr<Model> base;
  if (!args.kl_base.empty()) base = load_model_for_inference(args.kl_base);  // vocabularies are compared by the evaluation
  ThreadPool pool(args.threads.value_or(0));
  std::fprintf(stderr, "perplexity: %lld tokens, %zu windows of %lld\n", static_cast<long long>(stream.size()),
               windows.size(), static_cast<long long>(args.options.context));
  auto progress = [](int64_t done, int64_t, const PerplexityResult& so_far) {
    std::fprintf(stderr, "[%lld]%.4f,", static_cast<long long>(done), so_far.ppl);
    std::fflush(stderr);
  };
  const PerplexityResult r = base ? evaluate_against_base(*model, *base, windows, pool, args.options.batch, progress)
                                  : evaluate_perplexity(*model, windows, pool, args.options.batch, progress);
  std::fprintf(stderr, "\n");
  print_result(args, r, static_cast<int64_t>(stream.size()));
  return 0;
}

const CommandRegistration kRegistration("perplexity", [](CLI::App& app) {
  auto args = std::make_shared<PerplexityArgs>();
  CLI::App* cmd = app.add_subcommand("perplexity", "Perplexity over a text file, or KL divergence from a base model");
  cmd->add_option("model,-m,--model", args->model, "A .gguf file or a Hugging Face model folder")->required();
  cmd->add_option("file,-f,--file", args->text_file, "UTF-8 text file to score")->required();
  cmd->add_option("-c,--ctx-size", args->options.context, "Tokens per window (BOS included)")->capture_default_str();
  cmd->add_option("--stride", args->options.stride,
                  "Sliding windows every N tokens, each scoring only new tokens (default: llama-perplexity's "
                  "non-overlapping windows scoring their second half)");
  cmd->add_option("--chunks", args->options.max_windows, "Score at most N windows (default: all)");
  cmd->add_option("-b,--batch-size", args->options.batch, "Tokens per forward micro-batch")->capture_default_str();
  cmd->add_option("-t,--threads", args->threads, "Threads (default: all cores)");
  cmd->add_option("--kl-base", args->kl_base,
                  "Higher-precision model of the same vocabulary: also report KL(base || model) and top-1 agreement");
  cmd->add_flag("--json", args->json, "Print one JSON object");
  return [args] { return run_perplexity(*args); };
});

}  // namespace
}  // namespace facet::cli
