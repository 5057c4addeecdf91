// One Sampler::sample call over a Gemma-sized vocabulary (262,144 logits): what every
// sequence pays every step in `facet serve`, whatever the batch size.
//   ./build/bench/facet_bench --benchmark_filter=Sampler
// Names: Sampler/<greedy | top_k 64, top_p 0.95 (the server's default) | no top_k (all sorted)>.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "sampling/sampler.h"

namespace {

const std::vector<float>& logits() {
  static const std::vector<float> values = [] {
    std::mt19937 rng(3);
    std::normal_distribution<float> dist(0.0f, 3.0f);
    std::vector<float> v(262144);
    for (float& x : v) x = dist(rng);
    return v;
  }();
  return values;
}

void BM_Sampler(benchmark::State& state, facet::SamplingOptions options) {
  facet::Sampler sampler(options);
  const std::vector<float>& l = logits();
  for (auto _ : state) benchmark::DoNotOptimize(sampler.sample(l.data(), static_cast<int64_t>(l.size())));
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(BM_Sampler, greedy, facet::SamplingOptions{})->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sampler, top_k64_top_p095, facet::SamplingOptions{.temperature = 1.0, .top_k = 64, .top_p = 0.95})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sampler, no_top_k_top_p095, facet::SamplingOptions{.temperature = 1.0, .top_p = 0.95})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sampler, no_filters, facet::SamplingOptions{.temperature = 0.8})->Unit(benchmark::kMicrosecond);

}  // namespace
