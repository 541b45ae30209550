#include "thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
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

}  // namespace
}  // namespace lm
