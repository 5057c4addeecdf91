#include "util/memory_bandwidth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>

#include "util/thread_pool.h"

namespace facet {
namespace {

// Sums 64-byte lines with eight independent accumulators, so the loads, not an add chain,
// set the pace (the compiler turns this into vector loads at -O2 and above).
uint64_t sum_words(const uint64_t* p, size_t n) {
  uint64_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += p[i + k];
  return acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7];
}

}  // namespace

double measure_read_bandwidth(ThreadPool& pool, size_t bytes, int repetitions) {
  const size_t words = std::max<size_t>(bytes / sizeof(uint64_t) / 64 * 64, 64);
  std::unique_ptr<uint64_t[]> buffer(new uint64_t[words]);
  // Fill in parallel so the pages land where the threads that read them run.
  pool.parallel_for(static_cast<int64_t>(words / 64), [&](int64_t b, int64_t e) {
    for (int64_t i = b * 64; i < e * 64; ++i) buffer[static_cast<size_t>(i)] = static_cast<uint64_t>(i);
  });
  std::atomic<uint64_t> sink{0};  // keeps the sums alive
  double best = 0;
  for (int rep = 0; rep < std::max(1, repetitions); ++rep) {
    const auto start = std::chrono::steady_clock::now();
    pool.parallel_for(static_cast<int64_t>(words / 64), [&](int64_t b, int64_t e) {
      sink.fetch_add(sum_words(buffer.get() + b * 64, static_cast<size_t>(e - b) * 64), std::memory_order_relaxed);
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(words * sizeof(uint64_t)) / std::max(seconds, 1e-9));
  }
  return sink.load() == 1 ? best + 0.0 : best;  // the comparison only uses the sink
}

}  // namespace facet
