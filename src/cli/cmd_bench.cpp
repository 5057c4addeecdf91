// facet bench MODEL [-p 512] [-n 128] [-d 0] [-t THREADS] [-r 3] [--bandwidth] [--json]
// facet bench --bandwidth [-t THREADS] [--json]      (the memory read bandwidth alone)
// facet bench MODEL --draft DRAFTER [--draft-max K] [--draft-acceptance R]  (speculative decoding)
// Speed in the way llama-bench measures it, so the numbers compare directly:
//   pp<P>: one forward pass over P prompt tokens from an empty KV cache (tokens/s = P / time);
//   tg<N>: N single-token decode steps from an empty KV cache (tokens/s = N / time);
//   with -d D ("pp512 @ d2048", as llama-bench -d): the same after D tokens already in the
//   cache, which is where attention's cost shows (a long chat, a document). The D tokens
//   are processed once, untimed; each run then starts from them (the cache rewound).
// Each test runs once untimed (page-in of the mapped weights, cache warm-up), then -r
// timed repetitions. Tokens are a fixed pseudo-random sequence, as llama-bench uses random
// tokens: the speed of a forward pass does not depend on which ids it sees.
// The table goes to stdout with the machine and build underneath; --json prints one JSON
// object instead (medians for scripts, plus every repetition).
// --bandwidth also measures the memory read bandwidth with the same threads and says what
// share of the limit it sets the generation reached: a generated token reads every weight
// once, except the per-layer-embedding table (one row per token).
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "cli/bench_speculative.h"
#include "cli/command.h"
#include "cli/generation_flags.h"
#include "cli/machine_info.h"
#include "cli/model_summary.h"
#include "model/forward.h"
#include "model/weight_packing.h"
#include "util/error.h"
#include "util/memory_bandwidth.h"
#include "util/thread_pool.h"

namespace facet::cli {
namespace {

struct BenchArgs {
  std::string model;
  int64_t prompt = 512;
  int64_t gen = 128;
  int64_t depth = 0;  // tokens already in the KV cache when each test starts
  std::string cache_type_k = "f16", cache_type_v = "f16";  // as facet run (and llama-bench) default
  std::optional<int> threads;  // unset: all cores
  int repetitions = 3;
  int64_t batch = 512;
  bool json = false;
  bool bandwidth = false;
  std::string draft;                       // speculative decoding: a drafter, as run --draft
  int draft_min = 1;
  int draft_max = 8;
  std::optional<double> draft_acceptance;  // replace the drafter's guesses at this rate
};

struct Stats {
  std::vector<double> values;  // tokens/s of each repetition
  double mean = 0, sd = 0, median = 0;
};

Stats stats_of(std::vector<double> values) {
  Stats s;
  s.values = values;
  if (values.empty()) return s;
  for (double v : values) s.mean += v;
  s.mean /= static_cast<double>(values.size());
  if (values.size() > 1) {  // sample standard deviation, as llama-bench reports
    double sq = 0;
    for (double v : values) sq += (v - s.mean) * (v - s.mean);
    s.sd = std::sqrt(sq / static_cast<double>(values.size() - 1));
  }
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  s.median = values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
  return s;
}

std::vector<int32_t> bench_tokens(const ModelConfig& c, int64_t count) {
  // Ids below both vocabularies (the per-layer table can be the smaller one).
  const int32_t limit = c.has_ple() ? std::min(c.vocab_size, c.ple_vocab) : c.vocab_size;
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> pick(0, limit - 1);
  std::vector<int32_t> tokens(static_cast<size_t>(count));
  for (auto& t : tokens) t = pick(rng);
  return tokens;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Puts the cache at `depth` tokens: rewinds it there when it already holds them (the cache
// keeps enough sliding-window slack), else processes them (untimed).
void reset_to_depth(const Model& model, KvCache& cache, int64_t depth, ThreadPool& pool, int64_t batch) {
  if (depth > 0 && cache.n_past() >= depth && cache.can_truncate_to(depth)) {
    cache.truncate_to(depth);
    return;
  }
  cache.clear();
  if (depth > 0) {
    std::vector<int32_t> filler = bench_tokens(model.config, depth);
    std::reverse(filler.begin(), filler.end());  // not the tests' own sequence
    forward(model, cache, filler, LogitsFor::LastToken, pool, batch);
  }
}

// Tokens/s of one prompt-processing run: all tokens in one forward call.
double run_prompt(const Model& model, KvCache& cache, int64_t depth, const std::vector<int32_t>& tokens,
                  ThreadPool& pool, int64_t batch) {
  reset_to_depth(model, cache, depth, pool, batch);
  const auto start = std::chrono::steady_clock::now();
  forward(model, cache, tokens, LogitsFor::LastToken, pool, batch);
  return static_cast<double>(tokens.size()) / std::max(1e-9, seconds_since(start));
}

// Tokens/s of one generation run: one forward call per token, logits of each.
double run_generation(const Model& model, KvCache& cache, int64_t depth, const std::vector<int32_t>& tokens,
                      ThreadPool& pool, int64_t batch) {
  reset_to_depth(model, cache, depth, pool, batch);
  const auto start = std::chrono::steady_clock::now();
  for (int32_t id : tokens) forward(model, cache, {id}, LogitsFor::LastToken, pool);
  return static_cast<double>(tokens.size()) / std::max(1e-9, seconds_since(start));
}

// Bytes one generated token reads: every decoder weight except the per-layer-embedding
// table (E2B/E4B), of which a token reads one row straight from the map.
uint64_t gen_bytes_per_token(const Model& model, const ModelSummary& summary) {
  const TensorView* ple_table = model.source->find("per_layer_token_embd.weight");
  return summary.weight_bytes - (ple_table != nullptr ? ple_table->byte_size() : 0);
}

struct TestResult {
  std::string name;  // "pp512", "tg128", "tg128 @ d2048"
  Stats stats;
  bool drafting = false;  // the speculative pair, reported on their own in JSON
};

nlohmann::json stats_json(const Stats& s) {
  return {{"median", s.median}, {"mean", s.mean}, {"sd", s.sd}, {"runs", s.values}};
}

uint64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

void print_json(const BenchArgs& args, const Model& model, const ModelSummary& summary, int threads,
                const std::vector<TestResult>& results, double read_bandwidth, uint64_t peak_rss,
                const std::optional<SpeculativeBenchResult>& spec) {
  const MachineInfo m = machine_info();
  const BuildInfo b = build_info();
  nlohmann::json j;
  j["model"] = {{"path", model.path},
                {"type", summary.type},
                {"size_bytes", summary.weight_bytes},
                {"params", summary.params},
                {"file_bytes", model.source->file_bytes()}};
  j["threads"] = threads;
  j["repetitions"] = args.repetitions;
  j["n_prompt"] = args.prompt;
  j["n_gen"] = args.gen;
  j["n_depth"] = args.depth;
  j["cache_type_k"] = kv_cache_type_name(parse_kv_cache_type(args.cache_type_k));
  j["cache_type_v"] = kv_cache_type_name(parse_kv_cache_type(args.cache_type_v));
  j["prompt_tokens_per_s"] = nullptr;
  j["gen_tokens_per_s"] = nullptr;
  for (const TestResult& r : results) {
    if (r.drafting) continue;  // below
    const bool prompt = r.name[0] == 'p';
    j[prompt ? "prompt_tokens_per_s" : "gen_tokens_per_s"] = r.stats.median;
    j[prompt ? "prompt" : "gen"] = stats_json(r.stats);
  }
  if (spec) {
    j["speculative"] = {{"drafter", args.draft},
                        {"draft_min", args.draft_min},
                        {"draft_max", args.draft_max},
                        {"set_acceptance", args.draft_acceptance ? nlohmann::json(*args.draft_acceptance) : nlohmann::json(nullptr)},
                        {"plain", stats_json(stats_of(spec->plain_tokens_per_s))},
                        {"drafted", stats_json(stats_of(spec->drafted_tokens_per_s))},
                        {"drafted_tokens", spec->drafted},
                        {"accepted_tokens", spec->accepted},
                        {"forward_steps", spec->forward_steps},
                        {"generated_tokens", spec->generated}};
  }
  j["gen_bytes_per_token"] = gen_bytes_per_token(model, summary);
  if (read_bandwidth > 0) {
    j["read_bytes_per_s"] = read_bandwidth;
    j["gen_bandwidth_limit_tokens_per_s"] = read_bandwidth / static_cast<double>(j["gen_bytes_per_token"].get<uint64_t>());
  }
  j["peak_rss_bytes"] = peak_rss;
  j["machine"] = {{"cpu", m.cpu_model}, {"hardware_threads", m.hardware_threads}, {"simd", m.simd_target}};
  j["build"] = {{"compiler", b.compiler}, {"build_type", b.build_type}, {"commit", b.git_commit}};
  std::printf("%s\n", j.dump(2).c_str());
}

void print_table(const Model& model, const ModelSummary& summary, int threads, const std::vector<TestResult>& results,
                 double read_bandwidth) {
  const MachineInfo m = machine_info();
  const BuildInfo b = build_info();
  std::string name = "gemma4 " + model.config.shape_family();
  if (!model.config.name.empty()) name = model.config.name;
  std::printf("| %-24s | %10s | %10s | %-8s | %7s | %14s | %18s |\n", "model", "size", "params", "type", "threads",
              "test", "t/s");
  std::printf("| %.24s | %.10s | %.10s | %.8s | %.7s | %.14s | %.18s |\n", "------------------------------",
              "-------------:", "-------------:", "------------", "-------------:", "-------------:",
              "--------------------:");
  for (const TestResult& r : results) {
    char speed[64];
    std::snprintf(speed, sizeof speed, "%.2f ± %.2f", r.stats.mean, r.stats.sd);
    // Right-align by characters: printf's width counts the two bytes of "±".
    std::string padded = speed;
    const size_t chars = padded.size() - 1;
    if (chars < 18) padded.insert(0, 18 - chars, ' ');
    std::printf("| %-24s | %10s | %10s | %-8s | %7d | %14s | %s |\n", name.c_str(),
                human_bytes(static_cast<double>(summary.weight_bytes)).c_str(),
                human_count(static_cast<double>(summary.params)).c_str(), summary.type.c_str(), threads,
                r.name.c_str(), padded.c_str());
  }
  if (read_bandwidth > 0) {
    const double limit = read_bandwidth / static_cast<double>(gen_bytes_per_token(model, summary));
    std::printf("\nmemory read bandwidth %.1f GB/s (%d threads): generation limit %.2f t/s", read_bandwidth / 1e9,
                threads, limit);
    for (const TestResult& r : results)
      if (r.name[0] == 't' && r.name.find('@') == std::string::npos)  // the limit counts weights, not KV reads
        std::printf(", %s reached %.0f%%", r.name.c_str(), 100 * r.stats.median / limit);
    std::printf("\n");
  }
  std::printf("\nmachine: %s, %d hardware threads, SIMD %s\n", m.cpu_model.c_str(), m.hardware_threads,
              m.simd_target.c_str());
  std::printf("build:   facet %s, %s, %s\n", b.git_commit.c_str(), b.build_type.c_str(), b.compiler.c_str());
}

// --bandwidth without a model: the read bandwidth alone.
int run_bandwidth_only(const BenchArgs& args) {
  ThreadPool pool(args.threads.value_or(0));
  const double bandwidth = measure_read_bandwidth(pool);
  const MachineInfo m = machine_info();
  if (args.json) {
    nlohmann::json j = {{"read_bytes_per_s", bandwidth},
                        {"threads", pool.size()},
                        {"machine", {{"cpu", m.cpu_model}, {"hardware_threads", m.hardware_threads}}}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("memory read bandwidth: %.1f GB/s with %d threads (best of 5 sweeps over 1 GiB)\nmachine: %s\n",
                bandwidth / 1e9, pool.size(), m.cpu_model.c_str());
  }
  return 0;
}

int run_bench(const BenchArgs& args) {
  require(!args.threads || *args.threads >= 1, "-t/--threads must be at least 1 (got ", args.threads.value_or(0), ")");
  if (args.model.empty()) {
    require(args.bandwidth, "bench needs a MODEL (or --bandwidth to measure the memory alone)");
    return run_bandwidth_only(args);
  }
  require(args.prompt >= 0, "-p/--n-prompt must be 0 or more (got ", args.prompt, ")");
  require(args.gen >= 0, "-n/--n-gen must be 0 or more (got ", args.gen, ")");
  require(args.depth >= 0, "-d/--n-depth must be 0 or more (got ", args.depth, ")");
  require(args.depth == 0 || args.draft.empty(), "-d/--n-depth is not available with --draft yet: the drafting "
          "test starts from an empty cache");
  require(args.prompt > 0 || args.gen > 0, "nothing to measure: -p and -n are both 0");
  require(args.repetitions >= 1, "-r/--repetitions must be at least 1 (got ", args.repetitions, ")");
  require(!args.threads || *args.threads >= 1, "-t/--threads must be at least 1 (got ", args.threads.value_or(0), ")");
  require(args.batch >= 1, "-b/--batch-size must be at least 1 (got ", args.batch, ")");
  const KvCacheTypes cache_types_wanted = cache_types(args.cache_type_k, args.cache_type_v);

  auto model = load_model_for_inference(args.model);
  const ModelConfig& c = model->config;
  const int64_t tested = std::max(args.prompt, args.gen), context = args.depth + tested;
  require(c.max_context <= 0 || context <= c.max_context, "-d plus -p/-n make ", context,
          " tokens, which exceed the model's context length of ", c.max_context);
  const ModelSummary summary = summarize_model(*model);
  ThreadPool pool(args.threads.value_or(0));
  // Sliding rings keep `tested` positions of slack, so each run can rewind to the depth.
  KvCache cache(c, context, args.depth > 0 ? tested : 0, cache_types_wanted);
  const std::string at_depth = args.depth > 0 ? " @ d" + std::to_string(args.depth) : "";

  std::vector<TestResult> results;
  auto measure = [&](const std::string& name, const std::function<double()>& once) {
    once();  // warm-up, not counted
    std::vector<double> speeds;
    for (int i = 0; i < args.repetitions; ++i) speeds.push_back(once());
    results.push_back({name, stats_of(speeds)});
  };
  if (args.prompt > 0) {
    const std::vector<int32_t> tokens = bench_tokens(c, args.prompt);
    measure("pp" + std::to_string(args.prompt) + at_depth,
            [&] { return run_prompt(*model, cache, args.depth, tokens, pool, args.batch); });
  }
  if (args.gen > 0) {
    const std::vector<int32_t> tokens = bench_tokens(c, args.gen);
    measure("tg" + std::to_string(args.gen) + at_depth,
            [&] { return run_generation(*model, cache, args.depth, tokens, pool, args.batch); });
  }
  std::optional<SpeculativeBenchResult> spec;
  if (!args.draft.empty()) {
    require(args.gen > 0, "--draft measures generation: -n must be more than 0");
    spec = bench_speculative(*model, args.draft, args.draft_min, args.draft_max, args.draft_acceptance, args.gen, args.repetitions,
                             pool.size());
    const std::string n = std::to_string(args.gen);
    results.push_back({"tg" + n + " gen", stats_of(spec->plain_tokens_per_s), true});
    results.push_back({"tg" + n + " draft", stats_of(spec->drafted_tokens_per_s), true});
  }
  // Measured after the tests and their peak RSS, so its 1 GiB buffer counts in neither.
  const uint64_t peak_rss = peak_rss_bytes();
  const double bandwidth = args.bandwidth ? measure_read_bandwidth(pool) : 0.0;
  if (args.json)
    print_json(args, *model, summary, pool.size(), results, bandwidth, peak_rss, spec);
  else {
    print_table(*model, summary, pool.size(), results, bandwidth);
    std::printf("kv cache: K %s, V %s\n", kv_cache_type_name(cache.types().k).c_str(),
                kv_cache_type_name(cache.types().v).c_str());
  }
  if (spec && !args.json) {
    const double speedup = stats_of(spec->drafted_tokens_per_s).median / stats_of(spec->plain_tokens_per_s).median;
    std::printf("drafting (%s%s, %d to %d per step): accepted %lld/%lld (%.0f%%), %.2f tokens per forward pass, "
                "%.2fx the speed of the same generation without (medians)\n",
                args.draft.c_str(),
                args.draft_acceptance ? (", guesses replaced at acceptance " + std::to_string(*args.draft_acceptance).substr(0, 4)).c_str() : "",
                args.draft_min, args.draft_max, static_cast<long long>(spec->accepted), static_cast<long long>(spec->drafted),
                spec->drafted > 0 ? 100.0 * static_cast<double>(spec->accepted) / static_cast<double>(spec->drafted) : 0.0,
                spec->forward_steps > 0 ? static_cast<double>(spec->generated) / static_cast<double>(spec->forward_steps) : 0.0,
                speedup);
  }
  return 0;
}

const CommandRegistration kRegistration("bench", [](CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prompt-processing and generation speed (like llama-bench)");
  cmd->add_option("model,-m,--model", args->model, "A .gguf file or a Hugging Face model folder");
  cmd->add_option("-p,--n-prompt", args->prompt, "Prompt tokens per prompt-processing run (0: skip)")
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", args->gen, "Tokens per generation run (0: skip)")->capture_default_str();
  cmd->add_option("-d,--n-depth", args->depth,
                  "Tokens already in the KV cache when each test starts (as llama-bench -d; processed once, untimed)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", args->threads, "Threads (default: all cores)");
  cmd->add_option("-r,--repetitions", args->repetitions, "Timed runs of each test, after one warm-up")
      ->capture_default_str();
  cmd->add_option("-b,--batch-size", args->batch, "Tokens per forward micro-batch in prompt processing")
      ->capture_default_str();
  add_cache_type_flags(*cmd, args->cache_type_k, args->cache_type_v);
  cmd->add_flag("--bandwidth", args->bandwidth,
                "Also measure the memory read bandwidth and the generation's share of its limit (alone without MODEL)");
  cmd->add_option("--draft,--model-draft", args->draft,
                  "Also measure generation with speculative decoding: a drafter as for facet run --draft");
  cmd->add_option("--draft-max", args->draft_max, "Draft tokens per step at most")->capture_default_str();
  cmd->add_option("--draft-min", args->draft_min,
                  "Draft tokens per step at least (--draft-min N --draft-max N: always N)")
      ->capture_default_str();
  cmd->add_option("--draft-acceptance", args->draft_acceptance,
                  "Replace the drafter's guesses by the true continuation kept at this rate (0-1): the speed at a "
                  "chosen acceptance (random-weight drafters never agree with their model)");
  cmd->add_flag("--json", args->json, "Print one JSON object (medians, every run, machine, build)");
  return [args] { return run_bench(*args); };
});

}  // namespace
}  // namespace facet::cli
