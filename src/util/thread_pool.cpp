#include "util/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace facet {

namespace {

// How long a worker keeps spinning for the next loop before it sleeps. Decode's loops come a
// few to tens of microseconds apart, so this keeps workers awake through a token, while an
// idle pool (or one on an oversubscribed machine, where spinning steals the core another
// thread needs) stops burning CPU after 30 µs.
constexpr auto kSpinTime = std::chrono::microseconds(30);

// A loop is cut into up to this many chunks per thread. One chunk per thread made every
// loop as slow as its latest thread: a worker that had gone to sleep between two loops (an
// E2B prompt's norms and softmaxes run on one thread for longer than the spin) starts tens of
// microseconds late, and the caller spent 8-12% of a prompt waiting for it.
constexpr int kChunksPerThread = 4;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_chunks() {
  // Chunks are handed out in order to whoever asks next, so a thread that starts late (a worker
  // woken from sleep, or one the host paused) takes fewer of them instead of making the
  // others wait for its fixed share.
  for (;;) {
    const int index = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    if (index >= job_chunks_) return;
    const int64_t begin = job_n_ * index / job_chunks_, end = job_n_ * (index + 1) / job_chunks_;
    if (begin < end) job_.call(job_.fn, begin, end);
  }
}

void ThreadPool::run(Job job, int64_t n, int64_t min_chunk) {
  if (n <= 0) return;
  const int chunks = static_cast<int>(
      std::min<int64_t>(int64_t{kChunksPerThread} * n_threads_, std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk))));
  if (chunks <= 1) {
    job.call(job.fn, 0, n);
    return;
  }
  job_ = job;
  job_n_ = n;
  job_chunks_ = chunks;
  next_chunk_.store(0, std::memory_order_relaxed);  // published by the generation bump below
  // Every worker acknowledges every loop (even one with no chunk for it), so none can still be
  // reading job_ when the next loop overwrites it.
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  bool wake_sleepers;
  {
    // Bumping the generation under the mutex means a worker that checked it under the mutex
    // and went to sleep will be woken below: no lost wake-ups.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
    wake_sleepers = sleepers_ > 0;
  }
  if (wake_sleepers) wake_.notify_all();
  run_chunks();
  // Spin for a few microseconds while the workers finish, then yield: on a machine with more
  // runnable threads than cores the worker we wait for may be waiting for this very core
  // (spinning 50 µs before yielding made every loop cost 56 µs on the shared 2-core VM).
  for (int spins = 0;; ++spins) {
    const int left = pending_.load(std::memory_order_acquire);
    if (left == 0) break;
    if (spins < 256) cpu_relax();
    else std::this_thread::yield();
  }
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    // Spin for the next generation for a while, then sleep until run() or the destructor wakes us.
    uint64_t gen = generation_.load(std::memory_order_acquire);
    const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
    for (int spins = 1; gen == seen; ++spins) {
      cpu_relax();
      if (spins % 64 == 0 && std::chrono::steady_clock::now() > deadline) {
        std::unique_lock<std::mutex> lock(mutex_);
        ++sleepers_;
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        --sleepers_;
      }
      gen = generation_.load(std::memory_order_acquire);
    }
    if (stop_.load(std::memory_order_relaxed)) return;  // ordered by the acquire of generation_
    seen = gen;
    run_chunks();
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace facet
