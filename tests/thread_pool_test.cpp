// ThreadPool::parallel_for: every index is visited exactly once, whether the workers are
// spinning (loops back to back) or asleep (a pause longer than their spin time between loops).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "util/thread_pool.h"

namespace facet {
namespace {

void expect_each_index_once(ThreadPool& pool, int64_t n, int64_t min_chunk) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    ASSERT_LE(0, begin);
    ASSERT_LT(begin, end);
    ASSERT_LE(end, n);
    for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
  }, min_chunk);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n=" << n << " i=" << i;
}

TEST(ThreadPool, CoversEveryIndexOnceForAnySizeAndChunk) {
  for (int threads : {1, 2, 3, 7}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 5, 16, 17, 1000})
      for (int64_t min_chunk : {1, 4, 16}) expect_each_index_once(pool, n, min_chunk);
  }
}

TEST(ThreadPool, ManyLoopsBackToBack) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int i = 0; i < 2000; ++i)
    pool.parallel_for(3, [&](int64_t begin, int64_t end) { total.fetch_add(end - begin, std::memory_order_relaxed); });
  EXPECT_EQ(total.load(), 3 * 2000);
}

TEST(ThreadPool, WakesSleepingWorkers) {
  ThreadPool pool(2);
  for (int i = 0; i < 5; ++i) {
    // Longer than the workers' spin time, so they have gone to sleep on the condition variable.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    // Each of the two chunks waits until both have started: the calling thread cannot take the
    // second chunk while it holds the first, so both start only if the sleeping worker woke up.
    std::atomic<int> started{0};
    std::vector<std::thread::id> who(2);
    pool.parallel_for(2, [&](int64_t begin, int64_t) {
      who[static_cast<size_t>(begin)] = std::this_thread::get_id();
      started.fetch_add(1);
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (started.load() < 2 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    });
    EXPECT_EQ(started.load(), 2);
    EXPECT_NE(who[0], who[1]) << "both chunks ran at once, on two threads";
  }
  // The destructor then has to wake the sleeping worker to join it.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

TEST(ThreadPool, LateThreadTakesFewerChunks) {
  // Chunks go to whoever asks next: while the worker is held up in its first chunk, the
  // caller takes all the others, so a late thread does not hold up the loop by a full share.
  ThreadPool pool(2);
  std::atomic<int> chunks_on_caller{0}, done{0};
  const auto caller = std::this_thread::get_id();
  std::atomic<bool> worker_busy{false};
  pool.parallel_for(64, [&](int64_t, int64_t) {
    if (std::this_thread::get_id() == caller) {
      chunks_on_caller.fetch_add(1);
    } else if (!worker_busy.exchange(true)) {
      // Hold the worker until the caller has finished everything else (or 10 s pass).
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (done.load() + 1 < 8 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    }
    done.fetch_add(1);
  });
  EXPECT_EQ(done.load(), 8) << "64 indices in 4 chunks per thread";
  EXPECT_GE(chunks_on_caller.load(), 7) << "the caller took every chunk the held-up worker could not";
}

}  // namespace
}  // namespace facet
