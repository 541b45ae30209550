// ThreadPool: a fixed set of worker threads for splitting one kernel call
// (the rows of a weight matrix) across cores.
//
// The calling thread takes part in the work, so ThreadPool(1) runs
// everything inline. Work is split into more chunks than threads and every
// thread, the caller included, takes the next free chunk: a worker the OS has
// not scheduled (a busy machine) just takes none, and the caller does its
// share instead of waiting for it. Workers spin briefly before sleeping: one
// decode step makes many short parallel calls and a futex wake-up per call
// would cost more than the work on small models.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace lm {

class ThreadPool {
 public:
  // n_threads >= 1, counting the caller. Throws lm::Error(kInvalidArgument)
  // for n_threads < 1, or kUnsupported when built without LM_THREADS and n_threads > 1.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(begin, end) on disjoint ranges covering [0, n) whose boundaries
  // are multiples of `grain` (except the last), possibly on several threads.
  // Returns when every range is done. Not reentrant.
  template <class Fn>
  void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    run(n, grain, [](void* ctx, int64_t b, int64_t e) { (*static_cast<F*>(ctx))(b, e); }, const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // Whether this build can run more than one thread.
  static bool threads_available();

 private:
  using Task = void (*)(void* ctx, int64_t begin, int64_t end);
  void run(int64_t n, int64_t grain, Task task, void* ctx);
  void worker_loop();
  // Takes and runs chunks of job `job` until none is left (or another job started).
  void work_on(uint32_t job);

  static constexpr int kSpinMicros = 2000;  // how long an idle worker spins before sleeping
  static constexpr int kChunksPerThread = 4;

  int n_threads_;
  std::vector<std::thread> workers_;
  // The job being run, published by run() before `claim_` names the new job.
  // Atomics: a late worker may read them while the next job is written; it
  // then fails to claim a chunk (the job number differs) and uses nothing.
  std::atomic<Task> task_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int64_t> n_{0}, chunk_size_{1};
  std::atomic<uint32_t> chunks_{0};
  // High 32 bits: the job number; low 32 bits: the next chunk to take.
  std::atomic<uint64_t> claim_{0};
  std::atomic<uint32_t> done_{0};  // chunks finished in the current job
  std::atomic<bool> stop_{false};
  std::atomic<int> sleepers_{0};  // workers waiting on wake_ (or about to)
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace lm
