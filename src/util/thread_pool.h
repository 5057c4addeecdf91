// A fixed pool of worker threads for data-parallel loops. The calling thread takes part
// in every loop, so a pool of N threads has N-1 workers.
//
// Decode runs hundreds of small parallel loops per token, so a loop must cost little to
// start and finish: the job is passed by reference (no std::function, no allocation),
// workers spin for a short while after each loop before they sleep on a condition variable,
// and the caller waits for the workers on an atomic counter, spinning for a few microseconds
// before it blocks on it (std::atomic::wait).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace facet {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads <= 0: one per hardware thread
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(begin, end) over disjoint chunks covering [0, n), in any order and on any
  // thread; returns when all are done. Chunks are at least `min_chunk` long so tiny loops stay
  // on one thread.
  template <class F>
  void parallel_for(int64_t n, F&& fn, int64_t min_chunk = 1) {
    using Fn = std::remove_reference_t<F>;
    run({&fn, [](const void* f, int64_t b, int64_t e) { (*static_cast<Fn*>(const_cast<void*>(f)))(b, e); }}, n,
        min_chunk);
  }

 private:
  // A non-owning reference to the caller's callable.
  struct Job {
    const void* fn;
    void (*call)(const void*, int64_t, int64_t);
  };

  void run(Job job, int64_t n, int64_t min_chunk);
  void worker_loop();
  void run_chunks();  // takes chunks of the current loop until none are left

  int n_threads_;
  std::vector<std::thread> workers_;
  // The current loop; written by the caller before it bumps generation_ (release) and read by
  // workers after they see the new generation (acquire).
  Job job_{};
  int64_t job_n_ = 0;
  int job_chunks_ = 0;
  std::atomic<int> next_chunk_{0};  // the next chunk of the current loop to hand out
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};  // workers that have not finished the current loop
  std::atomic<bool> stop_{false};  // set before the final generation bump
  int sleepers_ = 0;             // workers waiting on wake_, guarded by mutex_
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace facet
