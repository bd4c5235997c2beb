// What the sync reports about its runs (for /metrics and /healthz), behind an interface the
// sync depends on, so lib/sync never depends on the HTTP endpoint that serves the figures.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace sgs::metrics {

// One collection's run, as it ended.
struct sync_run_report {
  std::string source;
  std::string collection;  // lists | segments | campaigns | recipients
  std::string result;      // succeeded | failed | stopped | skipped
  std::int64_t rows_upserted = 0;
  std::int64_t rows_tombstoned = 0;
  std::int64_t http_retries = 0;
  std::int64_t rate_limit_waits = 0;
  double rate_limit_wait_seconds = 0;
  std::int64_t finished_unix = 0;  // seconds since the epoch
  std::string finished_at;         // the same, ISO-8601 UTC (as in sync_runs)
};

// Where the sync reports. Implementations must be thread-safe: each source syncs on its own
// thread.
class sync_sink {
 public:
  virtual ~sync_sink() = default;
  virtual void run_finished(const sync_run_report& report) = 0;
  // A success recorded before this process started (read from sync_runs), so the "last
  // success" gauge is right after a restart, before the next run.
  virtual void last_success_known(std::string_view source, std::string_view collection,
                                  std::int64_t unix_seconds, std::string_view at) = 0;
};

// The daemon's sink: counters and last states, rendered as Prometheus text. Thread-safe (one
// mutex; runs end a few times per interval, /metrics reads rarely).
class sync_metrics final : public sync_sink {
 public:
  void run_finished(const sync_run_report& report) override;
  void last_success_known(std::string_view source, std::string_view collection,
                          std::int64_t unix_seconds, std::string_view at) override;

  struct collection_state {
    std::string last_result;       // "" when no run ended since start
    std::string last_finished_at;  // of that run
    std::int64_t last_success_unix = 0;
    std::string last_success_at;  // "" when never succeeded
  };
  // The source's sync_interval, for alerts that say "no success for two intervals" without
  // knowing each source's configuration.
  void sync_interval(std::string_view source, std::int64_t seconds);

  // By collection name, for one source (empty when nothing is known yet).
  std::map<std::string, collection_state> collections_of(std::string_view source) const;

  // The sendgrid_source_sync_* families in the Prometheus text format 0.0.4.
  std::string prometheus_text() const;

 private:
  using key = std::pair<std::string, std::string>;  // source, collection
  struct totals {
    std::map<std::string, std::uint64_t> runs_by_result;
    std::uint64_t rows_upserted = 0;
    std::uint64_t rows_tombstoned = 0;
    std::uint64_t http_retries = 0;
    std::uint64_t rate_limit_waits = 0;
    double rate_limit_wait_seconds = 0;
    collection_state state;
  };
  mutable std::mutex mutex_;
  std::map<key, totals> by_collection_;
  std::map<std::string, std::int64_t, std::less<>> interval_seconds_;  // by source
};

}  // namespace sgs::metrics
