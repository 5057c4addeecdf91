// SFT training throughput with and without sequence packing (`facet finetune --packing`):
// one forward + backward (LoRA gradients) over 48 short examples of 20-60 tokens, run one
// by one or first-fit packed into 512-token sequences. Packing turns many small matmuls
// into fewer big ones (each weight is read once per sequence, not once per example); the
// attention work is the same, being block-diagonal.
//   ./build/bench/facet_bench --benchmark_filter=TrainPacking
// Names: TrainPacking/<model>/<0 unpacked | 1 packed>; counter tokens_per_s = example
// tokens trained per wall-clock second. Models are generated on first use under /tmp.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <map>
#include <random>

#include "bench_models.h"
#include "model/random_model.h"
#include "train/packing.h"
#include "train/train_model.h"
#include "util/thread_pool.h"

namespace {


std::vector<facet::train::SftExample> short_examples(int vocab) {
  std::mt19937 rng(9);
  std::vector<facet::train::SftExample> out;
  for (int i = 0; i < 48; ++i) {
    facet::train::SftExample ex;
    const int length = 20 + static_cast<int>(rng() % 41);
    ex.tokens.push_back(2);
    while (static_cast<int>(ex.tokens.size()) < length) ex.tokens.push_back(static_cast<int32_t>(rng() % vocab));
    ex.trained.assign(ex.tokens.size(), 1);
    ex.trained[0] = 0;
    ex.line = i + 1;
    out.push_back(std::move(ex));
  }
  return out;
}

void BM_TrainPacking(benchmark::State& state, const std::string& config) {
  using namespace facet::train;
  const facet::Model& model = bench_model(config);
  std::vector<SftExample> data = short_examples(model.config.vocab_size);
  int64_t tokens = 0;
  for (const SftExample& ex : data) tokens += static_cast<int64_t>(ex.tokens.size());
  if (state.range(0)) data = pack_sft_examples(std::move(data), 512, 1);
  facet::ThreadPool pool(0);
  LoraModel lora = make_lora(model, LoraConfig{}, 1);
  for (auto _ : state) {
    lora.zero_grad();
    for (const SftExample& ex : data) {
      PassOptions pass;
      pass.segments = ex.segments;
      benchmark::DoNotOptimize(training_gradients(model, lora, ex.tokens, ex.targets(), pass, pool).loss_sum);
    }
  }
  state.counters["sequences"] = static_cast<double>(data.size());
  state.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(tokens * state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_TrainPacking, tiny-all, std::string("tiny-all"))
    ->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TrainPacking, bench-dense-34m, std::string("bench-dense-34m"))
    ->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace
