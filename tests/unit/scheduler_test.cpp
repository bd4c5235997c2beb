// Scheduler timing decisions and its threads (short intervals, real clock, bounded waits).
#include "scheduler/scheduler.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace {

using namespace std::chrono_literals;
using sgs::scheduler::clock;

const clock::time_point now = clock::time_point(std::chrono::hours(500000));

TEST(SchedulerTiming, NeverSyncedSourceRunsAtStart) {
  EXPECT_EQ(sgs::scheduler::first_run_at(now, std::nullopt, 3h, 60s), now);
}

TEST(SchedulerTiming, SourceWhoseLastSuccessIsOlderThanTheIntervalRunsAtStart) {
  EXPECT_EQ(sgs::scheduler::first_run_at(now, now - 4h, 3h, 60s), now);
  EXPECT_EQ(sgs::scheduler::first_run_at(now, now - 3h, 3h, 60s), now);
}

TEST(SchedulerTiming, RecentlySyncedSourceWaitsForTheRestOfTheInterval) {
  EXPECT_EQ(sgs::scheduler::first_run_at(now, now - 1h, 3h, 60s), now + 2h + 60s);
}

TEST(SchedulerTiming, NextRunIsOneIntervalAfterTheLastFinishedPlusJitter) {
  EXPECT_EQ(sgs::scheduler::next_run_at(now, 3h, 7s), now + 3h + 7s);
}

TEST(SchedulerTiming, JitterIsSmallAndBounded) {
  EXPECT_EQ(sgs::scheduler::max_jitter(3h), 5min);
  EXPECT_EQ(sgs::scheduler::max_jitter(20min), 1min);
  EXPECT_EQ(sgs::scheduler::max_jitter(10s), 0s);
}

TEST(Scheduler, RunsEachSourceRepeatedlyNeverTwiceAtOnceAndStopsARunningSync) {
  std::atomic<int> runs{0}, concurrent{0}, max_concurrent{0};
  std::atomic<bool> stopped_inside{false};
  sgs::scheduler::scheduled_source s;
  s.name = "a";
  s.interval = 1s;  // jitter 0 for intervals under 20 s
  s.last_success = [] { return std::optional<clock::time_point>(clock::now() - 2s); };
  s.run = [&](std::stop_token stop) {
    const int c = ++concurrent;
    max_concurrent = std::max(max_concurrent.load(), c);
    ++runs;
    // The second run blocks until stopped, like a long sync.
    if (runs.load() >= 2) {
      while (!stop.stop_requested()) std::this_thread::sleep_for(1ms);
      stopped_inside = true;
    }
    --concurrent;
  };
  sgs::scheduler::scheduler sched({s});
  sched.start();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (runs.load() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(runs.load(), 2);  // at start (last success 2 s ago), then 1 s later
  sched.stop();
  EXPECT_TRUE(stopped_inside.load());
  EXPECT_EQ(max_concurrent.load(), 1);
}

TEST(Scheduler, RecentlySyncedSourceDoesNotRunAtStart) {
  std::atomic<int> runs{0};
  sgs::scheduler::scheduled_source s;
  s.name = "b";
  s.interval = 3600s;
  s.last_success = [] { return std::optional<clock::time_point>(clock::now() - 10s); };
  s.run = [&](std::stop_token) { ++runs; };
  sgs::scheduler::scheduler sched({s});
  sched.start();
  std::this_thread::sleep_for(50ms);
  sched.stop();
  EXPECT_EQ(runs.load(), 0);
}

}  // namespace
