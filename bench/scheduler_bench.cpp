// Aggregate generation speed of the continuous-batching scheduler with 1, 4 and 16
// concurrent sequences (each step runs every sequence's next token in one forward pass,
// so the weights are read once per step instead of once per sequence).
//   ./build/bench/facet_bench --benchmark_filter=Scheduler
// Names: Scheduler/<model>/<sequences>; counter tokens_per_s = generated tokens of all
// sequences per wall-clock second. Models are generated on first use under /tmp from
// models/configs (tiny-all: the bundled default; bench-dense-34m: 34M f16 parameters);
// Scheduler/file/<sequences> runs the GGUF named by FACET_BENCH_MODEL (e.g. an E2B-shaped
// Q4_0 model from scripts/bench-e2b.sh), where a lone sequence is bound by memory bandwidth.
#include <benchmark/benchmark.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>

#include "engine/scheduler.h"
#include "bench_models.h"
#include "model/random_model.h"

namespace {


// Each iteration: `sequences` requests of 32 new tokens, submitted together, run to the end.
void BM_Scheduler(benchmark::State& state, const std::string& config) {
  static std::unique_ptr<facet::Model> from_file;
  if (config == "file") {
    const char* path = std::getenv("FACET_BENCH_MODEL");
    if (!path) return state.SkipWithError("set FACET_BENCH_MODEL=MODEL.gguf");
    if (!from_file) from_file = facet::load_model(path);
  }
  const facet::Model& model = config == "file" ? *from_file : bench_model(config);
  const int sequences = static_cast<int>(state.range(0));
  constexpr int64_t kNewTokens = 32;
  facet::SchedulerOptions options;
  options.threads = 2;
  options.max_sequences = sequences;
  options.context_size = 1024;
  facet::Scheduler scheduler(model, nullptr, options);
  int64_t generated = 0;
  int round = 0;
  for (auto _ : state) {
    std::mutex mutex;
    std::condition_variable done;
    int left = sequences;
    for (int i = 0; i < sequences; ++i) {
      facet::SequenceRequest r;
      // A fresh 16-token prompt per request and round (no prefix reuse between rounds).
      r.prompt = {2};
      for (int j = 0; j < 15; ++j) r.prompt.push_back(static_cast<int32_t>(3 + (round * 131 + i * 17 + j * 7) % 500));
      r.max_tokens = kNewTokens;
      scheduler.submit(std::move(r), {}, [&](const facet::GenerationResult& result, const std::string&) {
        std::lock_guard lock(mutex);
        generated += static_cast<int64_t>(result.tokens.size());
        --left;
        done.notify_all();
      });
    }
    std::unique_lock lock(mutex);
    done.wait(lock, [&] { return left == 0; });
    ++round;
  }
  state.counters["tokens_per_s"] = benchmark::Counter(static_cast<double>(generated), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_Scheduler, tiny-all, std::string("tiny-all"))
    ->Arg(1)->Arg(4)->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Scheduler, bench-dense-34m, std::string("bench-dense-34m"))
    ->Arg(1)->Arg(4)->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Scheduler, file, std::string("file"))
    ->Arg(1)->Arg(4)->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace
