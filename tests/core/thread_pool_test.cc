// ThreadPool: every task runs exactly once, for many task counts and pool sizes, repeatedly;
// a thread stuck in one task does not hold up the rest of its share; fresh pools used at once
// (the start-up race) and pools destroyed while idle.
#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "kernels/context.h"

namespace detinfer {
namespace {

void ExpectEachTaskOnce(ThreadPool& pool, int64_t n) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  pool.ParallelFor(n, [&](int64_t t) { hits[size_t(t)].fetch_add(1); });
  for (int64_t t = 0; t < n; ++t) ASSERT_EQ(hits[size_t(t)].load(), 1) << "task " << t;
}

TEST(ThreadPoolTest, EveryTaskRunsExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int rep = 0; rep < 20; ++rep) {
      for (int64_t n : {0, 1, 2, 3, 4, 5, 7, 64, 1000}) ExpectEachTaskOnce(pool, n);
    }
  }
}

TEST(ThreadPoolTest, AStuckThreadsShareIsTakenByTheOthers) {
  // Each thread owns a contiguous share of the tasks; one held up in a task must not hold up
  // the rest of its share. Here whoever runs task 0 (the caller's first) waits until every
  // other task is done: only the other threads taking the caller's share from the back lets it
  // finish. The wait gives up after 20 s, so a pool that cannot steal fails instead of hanging.
  for (int threads : {2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {2, 3, 8, 64}) {
      std::atomic<int64_t> others{0};
      std::atomic<bool> gave_up{false};
      pool.ParallelFor(n, [&](int64_t t) {
        if (t != 0) {
          others.fetch_add(1);
          return;
        }
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (others.load() != n - 1) {
          if (std::chrono::steady_clock::now() > until) {
            gave_up = true;
            return;
          }
          std::this_thread::yield();
        }
      });
      EXPECT_FALSE(gave_up.load()) << threads << " threads, " << n << " tasks";
      EXPECT_EQ(others.load(), n - 1);
    }
  }
}

TEST(ThreadPoolTest, FreshPoolsCanBeUsedImmediately) {
  // A pool used the moment it is built: workers that start late must still join the first job
  // (this used to hang when a worker read the job counter after the first job was published).
  for (int rep = 0; rep < 200; ++rep) {
    ThreadPool pool(2 + rep % 4);
    ExpectEachTaskOnce(pool, 16);
  }
}

TEST(ThreadPoolTest, DestructionWithIdleWorkers) {
  for (int threads : {2, 3, 5}) {
    auto pool = std::make_unique<ThreadPool>(threads);
    ExpectEachTaskOnce(*pool, 10);
    // Long enough for the workers to stop spinning and sleep.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pool.reset();
    auto never_used = std::make_unique<ThreadPool>(threads);
    never_used.reset();
  }
  EXPECT_GE(ThreadPool::HardwareThreads(), 1);
}

TEST(ThreadPoolTest, KernelContextRunsNamedLambdasOnThePool) {
  ThreadPool pool(3);
  KernelContext ctx;
  ctx.pool = &pool;
  EXPECT_EQ(ctx.num_threads(), 3);
  std::vector<std::atomic<int>> hits(100);
  auto fn = [&](int64_t t) { hits[size_t(t)].fetch_add(1); };  // an lvalue, as kernels pass it
  ctx.ParallelFor(100, fn);
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

}  // namespace
}  // namespace detinfer
