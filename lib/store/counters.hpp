// The event store's counters for /healthz, /metrics and status, whatever the database.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "events/event.hpp"

namespace sgs::store {

// A latency histogram with fixed buckets, updated with relaxed atomics (cumulative on read).
struct latency_histogram {
  static constexpr std::array<double, 10> bounds = {0.005, 0.01, 0.025, 0.05, 0.1,
                                                    0.25,  0.5,  1.0,   2.5,  5.0};
  std::array<std::atomic<std::uint64_t>, bounds.size() + 1> counts{};  // last: over the top
  std::atomic<std::uint64_t> sum_micros{0};
  void observe(std::chrono::steady_clock::duration d) {
    const double seconds = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    counts[i].fetch_add(1, std::memory_order_relaxed);
    sum_micros.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
  }
};

// Counters for /healthz, /metrics and status; all monotonic since open. Written by the
// store's own threads, read from any thread. A store fills what applies to it and leaves the
// rest at zero (a database that indexes in the commit has no pending events, merges or WAL
// resets of its own).
struct store_counters {
  std::array<std::atomic<std::uint64_t>, events::event_type_count> stored{};
  std::array<std::atomic<std::uint64_t>, events::event_type_count> duplicates{};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> commits{0};
  latency_histogram commit_latency;  // group commits that acknowledged requests
  std::atomic<std::uint64_t> failed_commits{0};
  std::atomic<std::int64_t> last_event_unix_ms{0};  // arrival time of the newest stored event
  std::atomic<bool> last_commit_failed{false};
  std::atomic<bool> last_merge_failed{false};
  std::atomic<std::uint64_t> failed_merges{0};
  std::atomic<std::uint64_t> queued_events{0};   // submitted, not yet committed
  std::atomic<std::uint64_t> pending_events{0};  // acknowledged, not yet in the event tables
  std::atomic<std::uint64_t> merges{0};
  std::atomic<std::uint64_t> wal_restart_checkpoints{0};
  std::atomic<std::uint64_t> wal_resets{0};  // times the WAL started over from its beginning
};

}  // namespace sgs::store
