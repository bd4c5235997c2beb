// Request counters and the Prometheus text rendering of /metrics.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/sync_metrics.hpp"
#include "store/event_store.hpp"

namespace sgs::webhook {

// Thread-safe: counters are atomics; the per-source maps take a mutex (once per request).
class request_metrics {
 public:
  static constexpr std::array<double, 11> latency_buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                             0.5,   1.0,  2.5,   5.0,  10.0};
  void count_status(int status);
  // A connection that failed inside the server and was closed (see server::contained_errors).
  void count_contained_error();
  std::uint64_t contained_errors() const { return contained_.load(std::memory_order_relaxed); }
  void observe_latency(std::chrono::steady_clock::duration d);
  // Elements of a parsed body, by the table they are for ("rejected_events" for elements
  // that are not usable events).
  void count_received(std::string_view source, std::string_view table, std::uint64_t events);
  void count_bad_body(std::string_view source);
  // The answer to a POST /webhooks/sendgrid/{source} (known sources only).
  void count_webhook_response(std::string_view source, int status);

  struct snapshot {
    std::map<int, std::uint64_t> responses_by_status;
    std::uint64_t contained_errors = 0;
    std::array<std::uint64_t, latency_buckets.size()> latency_le{};  // cumulative
    std::uint64_t latency_count = 0;
    double latency_sum_seconds = 0;
    std::map<std::pair<std::string, std::string>, std::uint64_t> received;  // source, table
    std::map<std::string, std::uint64_t> bad_bodies_by_source;
    std::map<std::pair<std::string, int>, std::uint64_t> webhook_responses;  // source, status
  };
  snapshot read() const;

 private:
  mutable std::mutex mutex_;
  std::map<int, std::uint64_t> by_status_;
  std::atomic<std::uint64_t> contained_{0};
  std::array<std::uint64_t, latency_buckets.size()> latency_le_{};
  std::uint64_t latency_count_ = 0;
  double latency_sum_ = 0;
  std::map<std::pair<std::string, std::string>, std::uint64_t> received_;
  std::map<std::string, std::uint64_t, std::less<>> bad_bodies_;
  std::map<std::pair<std::string, int>, std::uint64_t> webhook_responses_;
};

struct metrics_source {
  std::string name;
  const store::event_store* store;
};

// Prometheus text exposition format 0.0.4. `sync` (may be null) adds the sync's families.
std::string render_metrics(const request_metrics& requests,
                           const std::vector<metrics_source>& sources,
                           const metrics::sync_metrics* sync = nullptr);

}  // namespace sgs::webhook
