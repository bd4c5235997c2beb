// The sync's counters and their Prometheus text.
#include "metrics/sync_metrics.hpp"

#include "metrics/prometheus.hpp"

namespace sgs::metrics {

namespace {

std::string labels(const std::pair<std::string, std::string>& k) {
  return "source=\"" + label(k.first) + "\",collection=\"" + label(k.second) + "\"";
}

}  // namespace

void sync_metrics::run_finished(const sync_run_report& r) {
  std::lock_guard lock(mutex_);
  auto& t = by_collection_[{r.source, r.collection}];
  ++t.runs_by_result[r.result];
  t.rows_upserted += static_cast<std::uint64_t>(r.rows_upserted);
  t.rows_tombstoned += static_cast<std::uint64_t>(r.rows_tombstoned);
  t.http_retries += static_cast<std::uint64_t>(r.http_retries);
  t.rate_limit_waits += static_cast<std::uint64_t>(r.rate_limit_waits);
  t.rate_limit_wait_seconds += r.rate_limit_wait_seconds;
  t.state.last_result = r.result;
  t.state.last_finished_at = r.finished_at;
  if (r.result == "succeeded") {
    t.state.last_success_unix = r.finished_unix;
    t.state.last_success_at = r.finished_at;
  }
}

void sync_metrics::last_success_known(std::string_view source, std::string_view collection,
                                      std::int64_t unix_seconds, std::string_view at) {
  std::lock_guard lock(mutex_);
  auto& s = by_collection_[{std::string(source), std::string(collection)}].state;
  if (unix_seconds > s.last_success_unix) {
    s.last_success_unix = unix_seconds;
    s.last_success_at = std::string(at);
  }
}

void sync_metrics::sync_interval(std::string_view source, std::int64_t seconds) {
  std::lock_guard lock(mutex_);
  interval_seconds_.insert_or_assign(std::string(source), seconds);
}

std::map<std::string, sync_metrics::collection_state> sync_metrics::collections_of(
    std::string_view source) const {
  std::lock_guard lock(mutex_);
  std::map<std::string, collection_state> out;
  for (const auto& [k, t] : by_collection_) {
    if (k.first == source) out.emplace(k.second, t.state);
  }
  return out;
}

std::string sync_metrics::prometheus_text() const {
  std::lock_guard lock(mutex_);
  std::string out;
  family(out, "sendgrid_source_sync_runs_total", "counter",
         "Collection sync runs that ended, by result (succeeded, failed, stopped, skipped).");
  for (const auto& [k, t] : by_collection_) {
    for (const auto& [result, n] : t.runs_by_result) {
      out += "sendgrid_source_sync_runs_total{" + labels(k) + ",result=\"" + label(result) +
             "\"} " + std::to_string(n) + "\n";
    }
  }
  auto counter = [&](const char* name, const char* help, auto value) {
    family(out, name, "counter", help);
    for (const auto& [k, t] : by_collection_) {
      out += std::string(name) + "{" + labels(k) + "} " + value(t) + "\n";
    }
  };
  counter("sendgrid_source_sync_rows_upserted_total",
          "Object rows inserted, changed or revived by the sync.",
          [](const totals& t) { return std::to_string(t.rows_upserted); });
  counter("sendgrid_source_sync_rows_tombstoned_total",
          "Object rows marked deleted_at because a complete sync no longer saw them.",
          [](const totals& t) { return std::to_string(t.rows_tombstoned); });
  counter("sendgrid_source_sync_http_retries_total",
          "SendGrid API requests retried after a 5xx, a timeout or a network error.",
          [](const totals& t) { return std::to_string(t.http_retries); });
  counter("sendgrid_source_sync_rate_limit_waits_total",
          "Waits for SendGrid's rate-limit window after a 429.",
          [](const totals& t) { return std::to_string(t.rate_limit_waits); });
  counter("sendgrid_source_sync_rate_limit_wait_seconds_total",
          "Time spent waiting for SendGrid's rate-limit window.",
          [](const totals& t) { return number(t.rate_limit_wait_seconds); });
  family(out, "sendgrid_source_sync_last_success_timestamp_seconds", "gauge",
         "When the collection's last successful sync finished (unix seconds).");
  for (const auto& [k, t] : by_collection_) {
    if (t.state.last_success_unix == 0) continue;  // never: no sample rather than 1970
    out += "sendgrid_source_sync_last_success_timestamp_seconds{" + labels(k) + "} " +
           std::to_string(t.state.last_success_unix) + "\n";
  }
  family(out, "sendgrid_source_sync_interval_seconds", "gauge",
         "The source's sync_interval: how often its collections are synced.");
  for (const auto& [source, seconds] : interval_seconds_) {
    out += "sendgrid_source_sync_interval_seconds{source=\"" + label(source) + "\"} " +
           std::to_string(seconds) + "\n";
  }
  return out;
}

}  // namespace sgs::metrics
