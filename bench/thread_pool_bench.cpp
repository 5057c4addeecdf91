// Cost of one ThreadPool::parallel_for with (almost) no work: what each of decode's hundreds
// of parallel regions per token pays to start and join the workers.
//   ./build/bench/facet_bench --benchmark_filter=ParallelFor
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>

#include "util/thread_pool.h"

namespace {

void BM_ParallelForEmpty(benchmark::State& state) {
  facet::ThreadPool pool(static_cast<int>(state.range(0)));
  std::atomic<int64_t> sink{0};
  for (auto _ : state) {
    // Each thread gets one chunk and does one relaxed add: the loop is all overhead.
    pool.parallel_for(pool.size(), [&](int64_t begin, int64_t end) {
      sink.fetch_add(end - begin, std::memory_order_relaxed);
    });
  }
  benchmark::DoNotOptimize(sink.load());
}
BENCHMARK(BM_ParallelForEmpty)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
