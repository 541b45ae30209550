#include "thread_pool.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "error.h"

namespace lm {

bool ThreadPool::threads_available() { return LM_THREADS != 0; }

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads) {
  if (n_threads < 1) throw Error(ErrorKind::kInvalidArgument, "threads must be at least 1, got " + std::to_string(n_threads));
  if (n_threads > 1 && !threads_available())
    throw Error(ErrorKind::kUnsupported, "this build has no thread support; use threads = 1");
  if (n_threads > 256) throw Error(ErrorKind::kInvalidArgument, "threads must be at most 256");
  workers_.reserve(static_cast<size_t>(n_threads - 1));
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run_chunk(int index) {
  // Chunk boundaries rounded to the grain so SIMD tiles never straddle threads.
  const int64_t units = (n_ + grain_ - 1) / grain_;
  const int64_t per = units / n_threads_, extra = units % n_threads_;
  const int64_t first = index * per + std::min<int64_t>(index, extra);
  const int64_t count = per + (index < extra ? 1 : 0);
  const int64_t begin = std::min(n_, first * grain_), end = std::min(n_, (first + count) * grain_);
  if (begin < end) task_(ctx_, begin, end);
}

void ThreadPool::run(int64_t n, int64_t grain, Task task, void* ctx) {
  if (n <= 0) return;
  if (n_threads_ == 1 || n <= grain) {
    task(ctx, 0, n);
    return;
  }
  task_ = task;
  ctx_ = ctx;
  n_ = n;
  grain_ = std::max<int64_t>(1, grain);
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  run_chunk(0);
  while (pending_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    // Spin first: within a decode step the next job arrives in microseconds,
    // and a futex wake-up (slow in WebAssembly) per job would cost more than
    // the job. Sleep once the pool has been idle for a while.
    uint64_t gen = generation_.load(std::memory_order_acquire);
    const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
    for (int spin = 0; gen == seen && !stop_.load(std::memory_order_relaxed); ++spin) {
      if ((spin & 255) == 255 && std::chrono::steady_clock::now() > spin_until) break;
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
      gen = generation_.load(std::memory_order_acquire);
    }
    if (stop_.load()) return;
    seen = gen;
    run_chunk(index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace lm
