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
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::work_on(uint32_t job) {
  const Task task = task_.load(std::memory_order_relaxed);
  void* const ctx = ctx_.load(std::memory_order_relaxed);
  const int64_t n = n_.load(std::memory_order_relaxed), size = chunk_size_.load(std::memory_order_relaxed);
  const uint32_t chunks = chunks_.load(std::memory_order_relaxed);
  uint64_t claim = claim_.load(std::memory_order_acquire);
  for (;;) {
    const auto chunk = static_cast<uint32_t>(claim);
    if (static_cast<uint32_t>(claim >> 32) != job || chunk >= chunks) return;
    // Take chunk `chunk` of job `job`, unless someone else did (or a new job began).
    if (!claim_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    const int64_t begin = std::min(n, chunk * size), end = std::min(n, (chunk + 1) * size);
    if (begin < end) task(ctx, begin, end);
    done_.fetch_add(1, std::memory_order_acq_rel);
    claim = claim_.load(std::memory_order_acquire);
  }
}

void ThreadPool::run(int64_t n, int64_t grain, Task task, void* ctx) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (n_threads_ == 1 || n <= grain) {
    task(ctx, 0, n);
    return;
  }
  // Chunks: a multiple of the grain, about kChunksPerThread per thread.
  const int64_t units = (n + grain - 1) / grain;
  const int64_t per_chunk = std::max<int64_t>(1, units / (int64_t{n_threads_} * kChunksPerThread));
  const int64_t size = per_chunk * grain;
  const auto chunks = static_cast<uint32_t>((n + size - 1) / size);
  task_.store(task, std::memory_order_relaxed);
  ctx_.store(ctx, std::memory_order_relaxed);
  n_.store(n, std::memory_order_relaxed);
  chunk_size_.store(size, std::memory_order_relaxed);
  chunks_.store(chunks, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  const uint32_t job = static_cast<uint32_t>(claim_.load(std::memory_order_relaxed) >> 32) + 1;
  claim_.store(uint64_t{job} << 32, std::memory_order_seq_cst);  // publishes the job
  // Only a sleeping worker needs the mutex and a wake-up (both slow in
  // WebAssembly); spinning ones see the new job. A worker counts itself in
  // sleepers_ before its last look at claim_, so either it sees this job or
  // this load sees it (both seq_cst).
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
  }
  work_on(job);
  // Every chunk is taken; wait for the ones other threads are still running.
  while (done_.load(std::memory_order_acquire) != chunks) std::this_thread::yield();
}

void ThreadPool::worker_loop() {
  uint32_t seen = 0;
  const auto job_of = [this] { return static_cast<uint32_t>(claim_.load(std::memory_order_seq_cst) >> 32); };
  for (;;) {
    // Spin first: within a decode step the next job arrives in microseconds,
    // and a futex wake-up (slow in WebAssembly) per job would cost more than
    // the job. Sleep once the pool has been idle for a while.
    uint32_t job = job_of();
    const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
    for (int spin = 0; job == seen && !stop_.load(std::memory_order_relaxed); ++spin) {
      if ((spin & 255) == 255 && std::chrono::steady_clock::now() > spin_until) break;
      job = job_of();
    }
    if (job == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      wake_.wait(lock, [&] { return stop_.load() || job_of() != seen; });
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      job = job_of();
    }
    if (stop_.load()) return;
    seen = job;
    work_on(job);
  }
}

}  // namespace lm
