#include "thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "error.h"

namespace lm {
namespace {

TEST(ThreadPool, SingleThreadRunsInline) {
  ThreadPool pool(1);
  std::vector<int> hits(100);
  pool.parallel_for(100, 8, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) ++hits[static_cast<size_t>(i)];
  });
  for (int h : hits) EXPECT_EQ(h, 1);
}

TEST(ThreadPool, RejectsBadSizes) {
  EXPECT_THROW(ThreadPool(0), Error);
  if (!ThreadPool::threads_available()) {
    EXPECT_THROW(ThreadPool(2), Error);
  }
}

// Every index is visited exactly once, chunk starts are multiples of the
// grain, and thousands of back-to-back jobs neither lose nor repeat work.
TEST(ThreadPool, CoversEveryIndexOnceWithGrainAlignedChunks) {
  if (!ThreadPool::threads_available()) GTEST_FAIL() << "this test needs a build with LM_THREADS=ON";
  ThreadPool pool(3);
  for (int64_t n : {1, 5, 16, 17, 100, 1001}) {
    for (int round = 0; round < 200; ++round) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<bool> misaligned{false};
      pool.parallel_for(n, 4, [&](int64_t b, int64_t e) {
        if (b % 4 != 0) misaligned = true;
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n=" << n << " i=" << i;
      ASSERT_FALSE(misaligned.load());
    }
  }
}

// Workers idle past their spin fall asleep; the next job must wake them (the
// caller would otherwise do every chunk itself: correct, but one thread).
TEST(ThreadPool, SleepingWorkersWakeForTheNextJob) {
  if (!ThreadPool::threads_available()) GTEST_FAIL() << "this test needs a build with LM_THREADS=ON";
  ThreadPool pool(3);
  int shared_rounds = 0;
  for (int round = 0; round < 10; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // > the 2 ms spin: every worker sleeps
    std::mutex m;
    std::set<std::thread::id> ran;
    pool.parallel_for(24, 1, [&](int64_t, int64_t) {
      {
        std::lock_guard<std::mutex> lock(m);
        ran.insert(std::this_thread::get_id());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    });
    shared_rounds += ran.size() > 1;
  }
  EXPECT_GE(shared_rounds, 3) << "workers stayed asleep while the caller ran every chunk";
}

}  // namespace
}  // namespace lm
