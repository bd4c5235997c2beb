// Counts requests and renders /metrics in the Prometheus text format.
#include "webhook/metrics.hpp"

#include "metrics/prometheus.hpp"

namespace sgs::webhook {

void request_metrics::count_status(int status) {
  std::lock_guard lock(mutex_);
  ++by_status_[status];
}

void request_metrics::count_contained_error() {
  contained_.fetch_add(1, std::memory_order_relaxed);
}

void request_metrics::observe_latency(std::chrono::steady_clock::duration d) {
  const double seconds = std::chrono::duration<double>(d).count();
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < latency_buckets.size(); ++i) {
    if (seconds <= latency_buckets[i]) ++latency_le_[i];
  }
  ++latency_count_;
  latency_sum_ += seconds;
}

void request_metrics::count_received(std::string_view source, std::string_view table,
                                     std::uint64_t events) {
  std::lock_guard lock(mutex_);
  received_[{std::string(source), std::string(table)}] += events;
}

void request_metrics::count_webhook_response(std::string_view source, int status) {
  std::lock_guard lock(mutex_);
  ++webhook_responses_[{std::string(source), status}];
}

void request_metrics::count_bad_body(std::string_view source) {
  std::lock_guard lock(mutex_);
  auto it = bad_bodies_.find(source);
  if (it == bad_bodies_.end()) it = bad_bodies_.emplace(std::string(source), 0).first;
  ++it->second;
}

request_metrics::snapshot request_metrics::read() const {
  std::lock_guard lock(mutex_);
  snapshot s;
  s.responses_by_status = by_status_;
  s.contained_errors = contained_.load(std::memory_order_relaxed);
  s.latency_le = latency_le_;
  s.latency_count = latency_count_;
  s.latency_sum_seconds = latency_sum_;
  s.received = received_;
  s.bad_bodies_by_source.insert(bad_bodies_.begin(), bad_bodies_.end());
  s.webhook_responses = webhook_responses_;
  return s;
}

std::string render_metrics(const request_metrics& requests,
                           const std::vector<metrics_source>& sources,
                           const metrics::sync_metrics* sync) {
  const auto s = requests.read();
  std::string out;
  metrics::family(
      out, "sendgrid_source_events_received_total", "counter",
      "Elements of webhook bodies that parsed as a JSON array, by the table they are for "
      "(rejected_events: not usable events), before deduplication.");
  for (const auto& [key, n] : s.received) {
    out += "sendgrid_source_events_received_total{source=\"" + key.first + "\",table=\"" +
           key.second + "\"} " + std::to_string(n) + "\n";
  }
  metrics::family(out, "sendgrid_source_events_stored_total", "counter",
                  "Events committed to the store, by type.");
  for (const auto& src : sources) {
    const auto& c = src.store->counters();
    for (auto t : events::all_event_types) {
      out += "sendgrid_source_events_stored_total{source=\"" + src.name + "\",table=\"" +
             std::string(events::table_name(t)) + "\"} " +
             std::to_string(c.stored[static_cast<std::size_t>(t)].load()) + "\n";
    }
  }
  metrics::family(
      out, "sendgrid_source_events_duplicate_total", "counter",
      "Events ignored because their sg_event_id or content fingerprint was stored already.");
  for (const auto& src : sources) {
    const auto& c = src.store->counters();
    for (auto t : events::all_event_types) {
      out += "sendgrid_source_events_duplicate_total{source=\"" + src.name + "\",table=\"" +
             std::string(events::table_name(t)) + "\"} " +
             std::to_string(c.duplicates[static_cast<std::size_t>(t)].load()) + "\n";
    }
  }
  metrics::family(out, "sendgrid_source_events_rejected_total", "counter",
                  "Array elements that were not usable events, kept in rejected_events.");
  for (const auto& src : sources) {
    out += "sendgrid_source_events_rejected_total{source=\"" + src.name + "\"} " +
           std::to_string(src.store->counters().rejected.load()) + "\n";
  }
  metrics::family(out, "sendgrid_source_bad_bodies_total", "counter",
                  "Webhook bodies refused with 400 (not a JSON array).");
  for (const auto& [src, n] : s.bad_bodies_by_source) {
    out += "sendgrid_source_bad_bodies_total{source=\"" + src + "\"} " + std::to_string(n) + "\n";
  }
  metrics::family(out, "sendgrid_source_commits_total", "counter",
                  "Store transactions, by result.");
  for (const auto& src : sources) {
    const auto& c = src.store->counters();
    out += "sendgrid_source_commits_total{source=\"" + src.name + "\",result=\"ok\"} " +
           std::to_string(c.commits.load()) + "\n";
    out += "sendgrid_source_commits_total{source=\"" + src.name + "\",result=\"failed\"} " +
           std::to_string(c.failed_commits.load()) + "\n";
  }
  metrics::family(out, "sendgrid_source_commit_duration_seconds", "histogram",
                  "Group commits that acknowledged webhook requests, BEGIN to COMMIT.");
  for (const auto& src : sources) {
    const auto& h = src.store->counters().commit_latency;
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < h.bounds.size(); ++i) {
      cumulative += h.counts[i].load();
      out += "sendgrid_source_commit_duration_seconds_bucket{source=\"" + src.name + "\",le=\"" +
             metrics::number(h.bounds[i]) + "\"} " + std::to_string(cumulative) + "\n";
    }
    cumulative += h.counts[h.bounds.size()].load();
    out += "sendgrid_source_commit_duration_seconds_bucket{source=\"" + src.name +
           "\",le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
    out += "sendgrid_source_commit_duration_seconds_sum{source=\"" + src.name + "\"} " +
           metrics::number(static_cast<double>(h.sum_micros.load()) / 1e6) + "\n";
    out += "sendgrid_source_commit_duration_seconds_count{source=\"" + src.name + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  metrics::family(
      out, "sendgrid_source_pending_events", "gauge",
      "Events acknowledged and durable in pending_bodies, not yet moved into the event tables.");
  for (const auto& src : sources) {
    out += "sendgrid_source_pending_events{source=\"" + src.name + "\"} " +
           std::to_string(src.store->counters().pending_events.load()) + "\n";
  }
  metrics::family(out, "sendgrid_source_merges_total", "counter",
                  "Transactions that moved pending bodies into the event tables.");
  for (const auto& src : sources) {
    out += "sendgrid_source_merges_total{source=\"" + src.name + "\"} " +
           std::to_string(src.store->counters().merges.load()) + "\n";
  }
  metrics::family(out, "sendgrid_source_wal_restart_checkpoints_total", "counter",
                  "RESTART checkpoints run because the WAL outgrew its limit.");
  for (const auto& src : sources) {
    out += "sendgrid_source_wal_restart_checkpoints_total{source=\"" + src.name + "\"} " +
           std::to_string(src.store->counters().wal_restart_checkpoints.load()) + "\n";
  }
  metrics::family(out, "sendgrid_source_wal_resets_total", "counter",
                  "Times the WAL started over from its beginning after a checkpoint.");
  for (const auto& src : sources) {
    out += "sendgrid_source_wal_resets_total{source=\"" + src.name + "\"} " +
           std::to_string(src.store->counters().wal_resets.load()) + "\n";
  }
  metrics::family(out, "sendgrid_source_queued_events", "gauge", "Events waiting for the writer.");
  for (const auto& src : sources) {
    out += "sendgrid_source_queued_events{source=\"" + src.name + "\"} " +
           std::to_string(src.store->counters().queued_events.load()) + "\n";
  }
  metrics::family(out, "sendgrid_source_dedup_keys", "gauge",
                  "Keys (sg_event_id and content fingerprints) in the in-memory dedup index.");
  for (const auto& src : sources) {
    out += "sendgrid_source_dedup_keys{source=\"" + src.name + "\"} " +
           std::to_string(src.store->dedup_keys()) + "\n";
  }
  metrics::family(out, "sendgrid_source_dedup_bytes", "gauge",
                  "Memory held by the in-memory dedup index.");
  for (const auto& src : sources) {
    out += "sendgrid_source_dedup_bytes{source=\"" + src.name + "\"} " +
           std::to_string(src.store->dedup_bytes()) + "\n";
  }
  metrics::family(
      out, "sendgrid_source_webhook_responses_total", "counter",
      "Answers to webhook POSTs, by source and status code (4xx: refused, 503: not stored).");
  for (const auto& [key, n] : s.webhook_responses) {
    out += "sendgrid_source_webhook_responses_total{source=\"" + key.first + "\",code=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  metrics::family(out, "sendgrid_source_http_responses_total", "counter",
                  "HTTP responses, by status code.");
  for (const auto& [code, n] : s.responses_by_status) {
    out += "sendgrid_source_http_responses_total{code=\"" + std::to_string(code) + "\"} " +
           std::to_string(n) + "\n";
  }
  metrics::family(out, "sendgrid_source_http_contained_errors_total", "counter",
                  "Connections that failed inside the server (an exception or allocation "
                  "failure) and were closed while the daemon went on.");
  out += "sendgrid_source_http_contained_errors_total " + std::to_string(s.contained_errors) + "\n";
  metrics::family(out, "sendgrid_source_http_request_duration_seconds", "histogram",
                  "Time from request headers read to response written.");
  for (std::size_t i = 0; i < request_metrics::latency_buckets.size(); ++i) {
    out += "sendgrid_source_http_request_duration_seconds_bucket{le=\"" +
           metrics::number(request_metrics::latency_buckets[i]) + "\"} " +
           std::to_string(s.latency_le[i]) + "\n";
  }
  out += "sendgrid_source_http_request_duration_seconds_bucket{le=\"+Inf\"} " +
         std::to_string(s.latency_count) + "\n";
  out += "sendgrid_source_http_request_duration_seconds_sum " +
         metrics::number(s.latency_sum_seconds) + "\n";
  out += "sendgrid_source_http_request_duration_seconds_count " + std::to_string(s.latency_count) +
         "\n";
  if (sync != nullptr) out += sync->prometheus_text();
  return out;
}

}  // namespace sgs::webhook
