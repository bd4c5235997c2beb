// `sendgrid-source sync`: runs sgs::sync::run_source_sync for each selected source on a worker
// thread while the main thread waits for SIGINT/SIGTERM (first one: stop between
// transactions), then prints the summary.
#include "sync_command.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "config/secrets.hpp"
#include "exit_codes.hpp"
#include "sources.hpp"
#include "sync/collections/account_sync.hpp"
#include "sync/sync_source.hpp"

namespace sgs::daemon {

namespace {

// Parses "lists,recipients"; nullopt (with `error`) on an unknown name.
std::optional<std::vector<store::collection>> parse_only(const std::string& text,
                                                         std::string& error) {
  std::vector<store::collection> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string name = text.substr(start, comma - start);
    while (!name.empty() && name.front() == ' ') name.erase(name.begin());
    while (!name.empty() && name.back() == ' ') name.pop_back();
    if (name == "all") {
      for (auto c : sync::all_collections_but_opt_in()) out.push_back(c);
    } else if (!name.empty()) {
      auto c = store::collection_from_name(name);
      if (!c) {
        error = "--only: unknown collection '" + name +
                "' (known: all, lists, segments, campaigns, recipients, bounces, blocks, "
                "spam_reports, invalid_emails, global_unsubscribes, unsubscribe_groups, "
                "group_suppressions, templates, template_versions, senders, verified_senders, "
                "field_definitions, stats_daily, category_stats_daily, singlesend_stats, "
                "automation_stats, messages)";
        return std::nullopt;
      }
      out.push_back(*c);
    }
    start = comma + 1;
  }
  if (out.empty()) {
    error = "--only: name at least one collection (lists, segments, campaigns, recipients)";
    return std::nullopt;
  }
  return out;
}

// A one-line progress display on a terminal, redrawn at most ten times a second.
class progress_line {
 public:
  explicit progress_line(bool enabled) : enabled_(enabled) {}
  void update(const sync::progress& p) {
    if (!enabled_) return;
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    const bool final_state = p.state == "succeeded" || p.state == "failed" || p.state == "stopped";
    if (!final_state && p.state == last_state_ && now - last_ < std::chrono::milliseconds(100))
      return;
    last_ = now;
    last_state_ = std::string(p.state);
    std::fprintf(stderr, "\r\033[K%.*s %-10.*s %-28.*s pages=%lld rows=%lld%s",
                 static_cast<int>(p.source.size()), p.source.data(),
                 static_cast<int>(store::collection_name(p.collection).size()),
                 store::collection_name(p.collection).data(), static_cast<int>(p.state.size()),
                 p.state.data(), static_cast<long long>(p.pages), static_cast<long long>(p.rows),
                 final_state ? "\n" : "");
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point last_{};
  std::string last_state_;
};

void print_summary(const std::vector<sync::source_result>& results) {
  std::printf("%-16s %-20s %-9s %-9s %7s %9s %9s %10s %7s %6s %8s\n", "source", "collection", "api",
              "status", "pages", "rows", "upserted", "tombstoned", "retries", "waits", "seconds");
  for (const auto& r : results) {
    for (const auto& c : r.collections) {
      std::printf("%-16s %-20s %-9s %-9s %7lld %9lld %9lld %10lld %7lld %6lld %8.1f\n",
                  r.source.c_str(), std::string(store::collection_name(c.collection)).c_str(),
                  c.source_api.empty() ? "-" : c.source_api.c_str(),
                  std::string(store::run_status_name(c.status)).c_str(),
                  static_cast<long long>(c.counts.pages),
                  static_cast<long long>(c.counts.rows_seen),
                  static_cast<long long>(c.counts.rows_upserted),
                  static_cast<long long>(c.counts.rows_tombstoned),
                  static_cast<long long>(c.counts.http_retries),
                  static_cast<long long>(c.counts.rate_limit_waits),
                  static_cast<double>(c.duration.count()) / 1000.0);
    }
  }
  bool header = false;
  for (const auto& r : results) {
    auto line = [&](const std::string& what, const std::string& error) {
      if (!header) std::printf("\nerrors and skipped collections:\n");
      header = true;
      std::printf("  %s: %s\n", what.c_str(), error.c_str());
    };
    // A rejected key is said once, not once per skipped collection.
    if (!r.fatal_error.empty()) line(r.source, r.fatal_error);
    for (const auto& c : r.collections) {
      // Skipped for a missing scope: said with the scope to add. Skipped after a rejected
      // key: already said above.
      if (c.error.empty() || c.error == r.fatal_error ||
          (c.status == store::run_status::skipped && !r.fatal_error.empty()))
        continue;
      line(r.source + "/" + std::string(store::collection_name(c.collection)), c.error);
    }
  }
}

}  // namespace

CLI::App* add_sync_command(CLI::App& app, sync_cli_options& out) {
  auto* cmd = app.add_subcommand(
      "sync",
      "Sync SendGrid objects (lists, segments, campaigns, recipients, suppressions, groups, "
      "templates, senders, field definitions, stats, messages) now, in the foreground; exit 0 "
      "only if every collection succeeded or was skipped for a scope the key lacks");
  cmd->add_option("--source", out.source,
                  "Only this source (default: every source with an API key)");
  cmd->add_option("--only", out.only,
                  "Comma-separated collections (e.g. lists,bounces,stats_daily) or all");
  return cmd;
}

sync::source_sync_request make_sync_request(store::backend& storage,
                                            const config::source_config& src, std::string api_key) {
  sync::source_sync_request r;
  r.source = src;
  r.api_key = std::move(api_key);
  r.open_store = [&storage, name = src.name] { return storage.open_object_store(name); };
  r.options.collections.clear();
  for (const auto& name : src.collections) {
    if (name == "all") {
      for (auto c : sync::all_collections_but_opt_in()) r.options.collections.push_back(c);
    } else if (auto c = store::collection_from_name(name)) {
      r.options.collections.push_back(*c);
    }
  }
  r.options.suppression_reconcile_interval = src.suppression_reconcile_interval;
  r.options.stats_trailing_days = static_cast<int>(src.stats_trailing_days);
  r.options.stats_backfill_days = static_cast<int>(src.stats_backfill_days);
  return r;
}

int run_sync_command(const config::config& cfg, store::backend& storage,
                     const sync_cli_options& options) {
  std::optional<std::vector<store::collection>> only;
  if (!options.only.empty()) {
    std::string error;
    only = parse_only(options.only, error);
    if (!only) {
      std::fprintf(stderr, "sendgrid-source: %s\n", error.c_str());
      return exit_usage;
    }
  }
  std::vector<sync::source_sync_request> requests;
  for (const auto* source : select_sources(cfg, options.source)) {
    const config::source_config& src = *source;
    const auto value = api_key_of(src);
    if (!value) {
      std::fprintf(
          stderr,
          "sendgrid-source: source '%s' has no API key, so it is not synced: set api_key_file (or "
          "api_key_env) in its [[source]] section\n",
          src.name.c_str());
      if (!options.source.empty()) return exit_usage;
      continue;
    }
    sync::source_sync_request r = make_sync_request(storage, src, *value);
    if (only) r.options.collections = *only;
    requests.push_back(std::move(r));
  }
  if (requests.empty()) {
    std::fprintf(stderr, "sendgrid-source: no source has an API key: nothing to sync\n");
    return exit_usage;
  }

  // SIGINT/SIGTERM are blocked here, before the worker starts (it inherits the mask), and
  // taken with sigtimedwait below: a stop request from a plain thread, not a signal handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigset_t previous;
  pthread_sigmask(SIG_BLOCK, &signals, &previous);

  progress_line line(isatty(STDERR_FILENO) == 1);
  std::stop_source stop;
  std::vector<sync::source_result> results;
  std::atomic<bool> done{false};
  std::thread worker([&] {
    for (auto& r : requests) {
      if (stop.stop_requested()) break;
      r.options.stop = stop.get_token();
      r.options.on_progress = [&line](const sync::progress& p) { line.update(p); };
      results.push_back(sync::run_source_sync(r));
    }
    done = true;
  });
  bool stopping = false;
  while (!done) {
    timespec tick{0, 100 * 1000 * 1000};
    const int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      if (stopping) {
        // A second signal: the operator does not want to wait for the current transaction.
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        signal(sig, SIG_DFL);
        raise(sig);
      }
      stopping = true;
      std::fprintf(stderr, "\nsendgrid-source: stopping the sync after the current transaction\n");
      stop.request_stop();
    }
  }
  worker.join();
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);

  print_summary(results);
  bool ok = true;
  for (const auto& r : results) ok = ok && r.all_succeeded();
  return ok ? exit_ok : exit_runtime;
}

}  // namespace sgs::daemon
