// One generated token's attention on an E2B-shaped layer (8 query heads on one KV head)
// over `keys` cached positions of the default f16 KV cache, on a pool of 2 threads, three
// ways (the same bits; the difference is speed):
//   whole_window: the window decoded to f32 in one parallel loop, then one job per 4 heads
//                 (what the decoder did before);
//   per_job:      one job per 4 heads, each converting the rows it reads a chunk at a time
//                 (attend_spans, what the decoder does for a few tokens now).
//   ./build/bench/facet_bench --benchmark_filter=AttentionDecode
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/attention_spans.h"
#include "tensor/convert.h"
#include "util/thread_pool.h"

namespace {

enum class Way { whole_window, per_job };

void BM_AttentionDecode(benchmark::State& state, Way way) {
  constexpr int kHeads = 8;
  const int64_t keys = state.range(0), D = state.range(1);
  facet::ThreadPool pool(2);
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(kHeads * D)), values(static_cast<size_t>(keys * D));
  for (float& x : q) x = dist(rng) * 0.1f;
  const size_t row_bytes = facet::dtype_row_bytes(facet::DType::F16, D);
  std::vector<uint8_t> k(static_cast<size_t>(keys) * row_bytes), v(k.size());
  for (std::vector<uint8_t>* side : {&k, &v}) {
    for (float& x : values) x = dist(rng);
    for (int64_t i = 0; i < keys; ++i)
      facet::row_from_f32(facet::DType::F16, &values[static_cast<size_t>(i * D)], side->data() + i * row_bytes, D);
  }
  const facet::KvRowSpan stored{k.data(), v.data(), keys, row_bytes, row_bytes, facet::DType::F16, facet::DType::F16, D};
  std::vector<float> out(static_cast<size_t>(kHeads * D)), k32, v32;
  for (auto _ : state) {
    facet::KvRowSpan span = stored;
    if (way == Way::whole_window) {
      k32.resize(static_cast<size_t>(keys * D));  // reused, as an allocator would hand back
      v32.resize(k32.size());
      pool.parallel_for(keys, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          facet::row_to_f32(facet::DType::F16, k.data() + i * row_bytes, &k32[static_cast<size_t>(i * D)], D);
          facet::row_to_f32(facet::DType::F16, v.data() + i * row_bytes, &v32[static_cast<size_t>(i * D)], D);
        }
      }, 16);
      span = facet::f32_row_span(k32.data(), v32.data(), keys, D);
    }
    pool.parallel_for(2, [&](int64_t begin, int64_t end) {
      std::vector<float> scores;
      for (int64_t job = begin; job < end; ++job)
        facet::attend_spans(&q[static_cast<size_t>(job * 4 * D)], 4, {&span, 1}, 0, D, scores,
                            &out[static_cast<size_t>(job * 4 * D)]);
    }, 1);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GB/s"] = benchmark::Counter(2.0 * static_cast<double>(keys * row_bytes) / 1e9,
                                               benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK_CAPTURE(BM_AttentionDecode, whole_window, Way::whole_window)
    ->Name("AttentionDecode/whole_window")->Args({512, 256})->Args({2048, 512})->Args({8192, 512})->UseRealTime();
BENCHMARK_CAPTURE(BM_AttentionDecode, per_job, Way::per_job)
    ->Name("AttentionDecode/per_job")->Args({512, 256})->Args({2048, 512})->Args({8192, 512})->UseRealTime();

}  // namespace
