// sendgrid-source: the command line and the wiring of config, stores and the webhook server.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "check_command.hpp"
#include "config/config.hpp"
#include "config/secrets.hpp"
#include "exit_codes.hpp"
#include "logging/log.hpp"
#include "metrics/sync_metrics.hpp"
#include "reload.hpp"
#include "scheduler/scheduler.hpp"
#include "setup/checklist.hpp"
#include "signals.hpp"
#include "sources.hpp"
#include "store/backend.hpp"
#include "sync_command.hpp"
#include "watchdog.hpp"
#include "webhook/oauth.hpp"
#include "webhook/server.hpp"
#include "webhook_command.hpp"

#ifndef SGS_VERSION
#define SGS_VERSION "0.0.0"
#endif

namespace {

using sgs::config::config;

using sgs::daemon::exit_ok;
using sgs::daemon::exit_runtime;
using sgs::daemon::exit_usage;

using sgs::daemon::usage_error;

struct loaded_config {
  config cfg;
  std::string origin;  // the file it came from, or "built-in defaults"
  std::string path;    // the file it came from; "" for the built-in defaults
};

// --config PATH, else /etc/sendgrid-source/config.toml, else ./config.toml, else the built-in
// defaults (one source "default", ./data, 127.0.0.1:8080) so a first run needs no file.
loaded_config load_config(const std::string& explicit_path) {
  std::vector<std::string> candidates;
  if (!explicit_path.empty()) {
    candidates.push_back(explicit_path);
  } else {
    candidates = {"/etc/sendgrid-source/config.toml", "./config.toml"};
  }
  for (const auto& path : candidates) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      if (!explicit_path.empty()) {
        throw usage_error("cannot read config file " + path + ": " + std::strerror(errno) +
                          " (omit --config to use the built-in defaults)");
      }
      continue;
    }
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = sgs::config::parse_config(text.str(), path);
    if (auto* errors = std::get_if<std::vector<sgs::config::config_error>>(&parsed)) {
      throw usage_error("invalid configuration:\n" + sgs::config::format_errors(*errors, path));
    }
    return {std::get<config>(std::move(parsed)), path, path};
  }
  return {sgs::config::default_config(), "built-in defaults", ""};
}

// Under systemd the journal (with fields: SOURCE=, COLLECTION=, ...), on a terminal readable
// text, with log.format = "json" one object per line.
void setup_logging(const sgs::config::log_config& log) {
  sgs::logging::install(sgs::logging::detect_target(log.format), log.level);
}

// A migration that rewrites indexes takes about a minute per 10 million events: say what it
// is doing (each statement that took a while) so that a large store does not look hung.
void print_slow_migration_steps(sgs::store::backend& storage) {
  storage.on_migration_step([](const sgs::store::migration_step& step) {
    if (step.done == 1) {
      std::fprintf(stderr, "applying migration %.*s (%zu statements)\n",
                   static_cast<int>(step.migration.size()), step.migration.data(), step.total);
    }
    if (step.seconds >= 0.5) {
      std::fprintf(stderr, "  [%zu/%zu] %s  %.1f s\n", step.done, step.total,
                   step.statement.c_str(), step.seconds);
    }
  });
}

int cmd_migrate(const loaded_config& lc, sgs::store::backend& storage) {
  print_slow_migration_steps(storage);
  for (const auto& src : lc.cfg.sources) {
    const int version = storage.migrate(src.name);
    std::printf("%s: %s is at schema version %d\n", src.name.c_str(),
                storage.location(src.name).c_str(), version);
  }
  return exit_ok;
}

int cmd_status(const loaded_config& lc, sgs::store::backend& storage, const std::string& only) {
  // Each source's line below names where its data is (a file, or a schema without password).
  std::printf("config: %s\nstorage: %s\n", lc.origin.c_str(),
              lc.cfg.storage.backend == sgs::config::storage_backend::postgresql
                  ? "postgresql"
                  : lc.cfg.storage.dir.c_str());
  int rc = exit_ok;
  for (const auto* src : sgs::daemon::select_sources(lc.cfg, only)) {
    std::printf("\nsource %s  (%s)\n", src->name.c_str(), storage.location(src->name).c_str());
    try {
      const auto s = storage.read_summary(src->name);
      std::printf("  schema version   %d\n", s.schema_version);
      // A stored key the daemon cannot parse is ignored by it: unsigned posts get in.
      const auto keys = storage.read_webhook_keys(src->name);
      if (!keys.empty())
        std::printf("  webhook keys     %zu stored by webhook configure\n", keys.size());
      for (const auto& k : keys) {
        if (auto why = sgs::setup::unusable_key_reason(k.public_key)) {
          std::printf(
              "  \u2717 stored webhook key %s cannot be used (%s): the daemon ignores it; run "
              "`sendgrid-source webhook configure --source %s`\n",
              sgs::setup::shown_key(k.public_key).c_str(), why->c_str(), src->name.c_str());
          rc = exit_runtime;
        }
      }
      std::printf("  last event       %s\n",
                  s.last_received_at ? s.last_received_at->c_str() : "none received yet");
      std::printf("  events stored    %lld\n", static_cast<long long>(s.total_events));
      if (s.pending_events) {
        std::printf("  pending          %lld (acknowledged, moving into the tables)\n",
                    static_cast<long long>(s.pending_events));
      }
      for (const auto& t : s.tables) {
        std::printf("    %-24s %lld\n", t.table.c_str(), static_cast<long long>(t.rows));
      }
      if (s.last_syncs.empty()) {
        std::printf("  last sync        %s\n",
                    src->api_key.empty() ? "never (no API key: sync is off)" : "never");
      } else {
        std::printf("  last sync        %-20s %-10s %-24s %9s %10s %10s  %s\n", "collection",
                    "status", "finished", "objects", "upserted", "tombstoned", "last success");
        for (const auto& r : s.last_syncs) {
          std::printf("                   %-20s %-10s %-24s %9lld %10lld %10lld  %s\n",
                      r.collection.c_str(), r.status.c_str(),
                      r.finished_at.empty() ? "(running)" : r.finished_at.c_str(),
                      static_cast<long long>(r.objects), static_cast<long long>(r.rows_upserted),
                      static_cast<long long>(r.rows_tombstoned),
                      r.last_success_at.empty() ? "never" : r.last_success_at.c_str());
          if (!r.error.empty()) std::printf("                     error: %s\n", r.error.c_str());
        }
      }
    } catch (const std::exception& e) {
      std::printf("  %s\n", e.what());
      rc = exit_runtime;
    }
  }
  return rc;
}

// The scheduler's view of one source: when it last succeeded, and how to run it (the sync
// logs one line per collection and reports into `metrics`; never throws).
sgs::scheduler::scheduled_source scheduled_sync(sgs::store::backend& storage,
                                                const sgs::config::source_config& src,
                                                const std::string& api_key,
                                                sgs::metrics::sync_metrics& metrics) {
  sgs::scheduler::scheduled_source s;
  s.name = src.name;
  s.interval = src.sync_interval;
  metrics.sync_interval(src.name, src.sync_interval.count());
  auto request = sgs::daemon::make_sync_request(storage, src, api_key);
  request.options.metrics = &metrics;
  s.last_success = [request, &metrics]() -> std::optional<sgs::scheduler::clock::time_point> {
    try {
      auto store = request.open_store();
      return sgs::sync::last_complete_success(*store, request.source.name,
                                              request.options.collections, &metrics);
    } catch (const std::exception& e) {
      sgs::logging::warn("cannot read the last sync time: syncing now",
                         {{"source", request.source.name}, {"error", e.what()}});
      return std::nullopt;
    }
  };
  s.run = [request](std::stop_token stop) {
    auto r = request;
    r.options.stop = stop;
    const auto result = sgs::sync::run_source_sync(r);
    if (!result.fatal_error.empty())
      sgs::logging::error("sync failed",
                          {{"source", result.source}, {"error", result.fatal_error}});
  };
  return s;
}

// The source's OAuth token issuer; its client secret read from the config or its file.
std::unique_ptr<sgs::webhook::oauth_issuer> make_oauth_issuer(
    const sgs::config::source_config& src) {
  std::string secret;
  if (src.webhook_oauth_client_secret) {
    secret = *src.webhook_oauth_client_secret;
  } else {
    const auto& file = *src.webhook_oauth_client_secret_file;
    auto read =
        sgs::config::resolve_secret_file(file, src.name, "webhook_oauth_client_secret_file");
    if (auto* err = std::get_if<std::string>(&read)) throw usage_error(*err);
    secret = *std::get<std::optional<std::string>>(read);
    if (sgs::config::file_readable_by_others(sgs::config::resolve_api_key_path(file))) {
      sgs::logging::warn(
          "the OAuth client secret file is readable by other users: chmod 600 it",
          {{"source", src.name}, {"file", sgs::config::resolve_api_key_path(file).string()}});
    }
  }
  sgs::logging::info("requires OAuth bearer tokens",
                     {{"source", src.name},
                      {"token_url", "POST /oauth/token/" + src.name},
                      {"ttl_seconds", src.webhook_oauth_token_ttl.count()}});
  return std::make_unique<sgs::webhook::oauth_issuer>(sgs::webhook::oauth_client{
      src.webhook_oauth_client_id, std::move(secret), src.webhook_oauth_token_ttl});
}

// server.tls_* as the server takes them; nullopt for plain HTTP.
std::optional<sgs::webhook::tls_files> tls_files_of(const sgs::config::server_config& server) {
  if (server.tls_cert_file.empty()) return std::nullopt;
  return sgs::webhook::tls_files{server.tls_cert_file, server.tls_key_file};
}

// SIGHUP: load the certificate and key again (after a renewal); a failure keeps the old pair.
void reload_tls(sgs::webhook::server& server, const sgs::config::server_config& cfg) {
  if (cfg.tls_cert_file.empty()) return;
  if (auto error = server.reload_tls()) {
    sgs::logging::error("TLS reload failed, still serving the previous certificate",
                        {{"error", *error}});
  } else {
    sgs::logging::info("TLS certificate reloaded", {{"cert", cfg.tls_cert_file}});
  }
}

// What `run` holds for its sources while it serves them; destroyed after the server.
struct running_sources {
  sgs::metrics::sync_metrics sync_metrics;
  std::vector<std::unique_ptr<sgs::store::event_store>> stores;
  std::vector<sgs::scheduler::scheduled_source> scheduled;
  std::vector<std::unique_ptr<sgs::webhook::stored_keys>> stored_keys;
  std::vector<std::unique_ptr<sgs::webhook::oauth_issuer>> oauth_issuers;
  std::map<std::string, sgs::webhook::source_endpoint, std::less<>> endpoints;
  // Own the verifiers that the endpoints' source_auth point at, until the server is gone.
  std::vector<std::shared_ptr<const sgs::webhook::source_auth>> initial_auth;
};

// The webhook side of one source: stored keys, authentication, OAuth.
sgs::webhook::source_auth open_auth(const sgs::config::source_config& src,
                                    sgs::store::backend& storage, running_sources& out) {
  // Keys stored by `webhook configure`, also picked up while running.
  out.stored_keys.push_back(sgs::daemon::open_stored_keys(src.name, storage));
  auto made = sgs::daemon::make_source_auth(src, out.stored_keys.back().get());
  if (auto* err = std::get_if<std::string>(&made)) throw usage_error(*err);
  out.initial_auth.push_back(std::get<std::shared_ptr<const sgs::webhook::source_auth>>(made));
  const sgs::webhook::source_auth& auth = *out.initial_auth.back();
  if (auth.verifier != nullptr) {
    sgs::logging::info("accepts only signed webhooks",
                       {{"source", src.name}, {"keys", auth.verifier->key_count()}});
  }
  if (out.stored_keys.back()->key_count() > 0) {
    sgs::logging::info("accepts only signed webhooks (keys stored by webhook configure)",
                       {{"source", src.name}, {"keys", out.stored_keys.back()->key_count()}});
  } else if (!auth.verifier) {
    sgs::logging::warn(
        "accepts unsigned webhooks: run `sendgrid-source webhook configure --source " + src.name +
            "` or set webhook_verification_key to refuse forged posts",
        {{"source", src.name}});
  }
  // The endpoint's own copy: OAuth is not part of what a reload swaps.
  sgs::webhook::source_auth endpoint_auth = auth;
  if (!src.webhook_oauth_client_id.empty()) {
    out.oauth_issuers.push_back(make_oauth_issuer(src));
    endpoint_auth.oauth = out.oauth_issuers.back().get();
  }
  return endpoint_auth;
}

// Opens every source: its authentication, its sync schedule and its event store.
void open_sources(const config& cfg, sgs::store::backend& storage, running_sources& out) {
  for (const auto& src : cfg.sources) {
    auto endpoint_auth = open_auth(src, storage, out);
    if (auto api_key = sgs::daemon::api_key_of(src)) {
      sgs::daemon::warn_if_readable_by_others(src);
      if (!src.collections.empty()) {
        out.scheduled.push_back(scheduled_sync(storage, src, *api_key, out.sync_metrics));
        sgs::logging::info("syncs on a schedule",
                           {{"source", src.name},
                            {"collections", src.collections.size()},
                            {"interval_seconds", src.sync_interval.count()}});
      }
    } else {
      sgs::logging::info("no API key: it receives webhooks, its sync is off",
                         {{"source", src.name}});
    }
    // Opening reads the last dedup_window_hours of events back into memory: ~2 s per million.
    sgs::logging::info("opening the event store and loading the dedup keys of the window",
                       {{"source", src.name},
                        {"store", storage.location(src.name)},
                        {"dedup_window_hours", cfg.storage.dedup_window_hours}});
    const auto opening = std::chrono::steady_clock::now();
    auto store = storage.open_event_store(src.name);
    sgs::logging::info("event store open",
                       {{"source", src.name},
                        {"store", store->location()},
                        {"dedup_keys", store->dedup_keys()},
                        {"dedup_mb", store->dedup_bytes() / (1024 * 1024)},
                        {"pending_events", store->counters().pending_events.load()},
                        {"open_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now() - opening)
                                        .count()}});
    out.endpoints.emplace(src.name,
                          sgs::webhook::source_endpoint{src.name, store.get(), endpoint_auth});
    out.stores.push_back(std::move(store));
  }
}

sgs::webhook::server_options server_options_for(const sgs::config::server_config& server,
                                                const sgs::metrics::sync_metrics& sync_metrics) {
  sgs::webhook::server_options so;
  so.host = server.listen_host;
  so.port = server.listen_port;
  so.max_body_bytes = server.max_body_bytes;
  so.header_timeout = server.header_timeout;
  so.body_timeout = server.body_timeout;
  so.idle_timeout = server.idle_timeout;
  so.max_connections = server.max_connections;
  so.max_events_per_request = server.max_events_per_request;
  so.sync_metrics = &sync_metrics;
  so.tls = tls_files_of(server);
  so.handshake_timeout = server.tls_handshake_timeout;
  if (!server.admin_listen_host.empty()) {
    so.admin_listen =
        sgs::webhook::listen_address{server.admin_listen_host, server.admin_listen_port};
  }
  return so;
}

// The TLS files must load before anything is opened: a typo is a config error, not a listener
// that fails at the first connection.
void check_tls(const sgs::config::server_config& server) {
  auto tls = tls_files_of(server);
  if (!tls) return;
  if (auto error = sgs::webhook::check_tls_files(*tls)) throw usage_error(*error);
  if (sgs::config::file_readable_by_others(tls->key_file)) {
    sgs::logging::warn("the TLS key file is readable by other users: chmod 600 it",
                       {{"file", tls->key_file.string()}});
  }
}

// One line per webhook URL (tests and operators read the port from it) and the admin one.
void log_listeners(const config& cfg, const sgs::webhook::server_options& so,
                   const sgs::webhook::server& server) {
  const std::string base = std::string(so.tls ? "https" : "http") + "://" + so.host + ":" +
                           std::to_string(server.port());
  for (const auto& src : cfg.sources) {
    sgs::logging::info("listening: POST " + base + "/webhooks/sendgrid/" + src.name,
                       {{"source", src.name}});
  }
  if (so.admin_listen) {
    sgs::logging::info("admin listener: GET http://" + so.admin_listen->host + ":" +
                           std::to_string(server.admin_port()) +
                           "/healthz and /metrics (404 on the public one)",
                       {});
  }
}

// Runs the io_context on `io_threads` threads (this one included) until it runs out of work.
void run_io(boost::asio::io_context& ioc, unsigned io_threads) {
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < io_threads; ++i) {
    threads.emplace_back([&] { sgs::webhook::run_contained(ioc); });
  }
  sgs::webhook::run_contained(ioc);
  for (auto& t : threads) t.join();
}

int cmd_run(const loaded_config& lc, sgs::store::backend& storage, unsigned io_threads) {
  const config& cfg = lc.cfg;
  // A schema migration at start can outlast systemd's start timeout on a large store: log
  // each slow step and ask for more time (the migration is one transaction: a stop rolls it
  // back, and the next start begins again).
  storage.on_migration_step([](const sgs::store::migration_step& step) {
    sgs::daemon::notify_still_starting(std::chrono::minutes(10));
    if (step.done == 1 || step.seconds >= 0.5) {
      sgs::logging::info("migrating the store",
                         {{"migration", std::string(step.migration)},
                          {"step", step.done},
                          {"of", step.total},
                          {"statement", step.statement},
                          {"ms", static_cast<std::int64_t>(step.seconds * 1000)}});
    }
  });
  sgs::logging::info("starting sendgrid-source",
                     {{"version", SGS_VERSION},
                      {"config", lc.origin},
                      {"storage", cfg.storage.backend == sgs::config::storage_backend::postgresql
                                      ? std::string("postgresql")
                                      : cfg.storage.dir.string()}});
  check_tls(cfg.server);
  running_sources sources;
  open_sources(cfg, storage, sources);

  boost::asio::io_context ioc(static_cast<int>(io_threads));
  const auto so = server_options_for(cfg.server, sources.sync_metrics);
  sgs::webhook::server server(ioc.get_executor(), so, std::move(sources.endpoints));
  server.start();
  log_listeners(cfg, so, server);

  // Ready once the stores are open and the listener is bound.
  sgs::daemon::notify_ready(so.host, server.port());
  sgs::daemon::watchdog watchdog(ioc);
  watchdog.start();

  // Sync runs on its own threads; the webhook never waits for it.
  sgs::scheduler::scheduler sync_scheduler(std::move(sources.scheduled));
  sync_scheduler.start();

  // SIGHUP: re-read the config and apply what is safe (daemon/reload.hpp), on an I/O thread.
  sgs::daemon::reload_context reload_ctx{lc.path, cfg, &server, {}};
  for (std::size_t i = 0; i < cfg.sources.size(); ++i)
    reload_ctx.stored_keys[cfg.sources[i].name] = sources.stored_keys[i].get();
  sgs::daemon::signal_handlers signals(ioc);
  signals.on_hangup([&] {
    sgs::daemon::notify_reloading();
    sgs::logging::info("signal SIGHUP: reloading", {{"config", lc.origin}});
    sgs::daemon::reload(reload_ctx);
    reload_tls(server, cfg.server);  // after a certificate renewal
    sgs::daemon::notify_reloaded();
  });
  // First SIGINT/SIGTERM: drain (stop accepting, finish requests in flight and their commits,
  // stop a running sync between transactions); the io_context then runs out of work.
  signals.on_stop([&](int signo) {
    sgs::logging::info(
        "signal: finishing requests in flight, then exiting (a second signal exits at once)",
        {{"signal", signo}});
    sgs::daemon::notify_stopping();
    watchdog.stop();
    server.stop();
    sync_scheduler.stop();
  });

  run_io(ioc, io_threads);
  for (auto& s : sources.stores) s->close();
  sgs::logging::info("stopped cleanly", {});
  return exit_ok;
}

}  // namespace

// Webhook bodies (up to max_body_bytes) and their parsed events are allocated on the I/O
// threads and freed on the writer thread: a 1000-event POST is a ~400 KB body and a ~1 MB
// vector of parsed events. glibc's default raises its mmap threshold after the first such
// free, and its per-thread arenas (16 here) then fragment and never shrink: peak RSS 200 MB.
// Below a fixed threshold every such allocation is a fresh mmap whose pages fault in one by
// one; on this virtual machine those faults cost a third of a receiver's CPU. So: allocations
// up to 8 MB (every body and batch of a usual POST) come from two arenas and are reused, only
// larger ones are mapped. Measured (docs/DESIGN.md "Memory"): SQLite ingest 45 000 -> 55 000
// events/s at peak RSS 160 -> 220 MB; a PostgreSQL receiver 16.5 -> 9.7 us of CPU per event
// at 40 -> 70 MB.
static void tune_malloc() {
  mallopt(M_MMAP_THRESHOLD, 8 * 1024 * 1024);
  mallopt(M_ARENA_MAX, 2);
}

int main(int argc, char** argv) {
  tune_malloc();
  CLI::App app{
      "sendgrid-source: receives SendGrid Event Webhook posts into SQLite, one file per source.\n"
      "Point SendGrid's Event Webhook at POST /webhooks/sendgrid/<source> and query the files.",
      "sendgrid-source"};
  app.set_version_flag("--version", std::string("sendgrid-source ") + SGS_VERSION);
  std::string config_path;
  app.add_option(
      "--config", config_path,
      "TOML config file (default: /etc/sendgrid-source/config.toml, then ./config.toml, then "
      "built-in defaults: 127.0.0.1:8080, ./data, source 'default'); before or after the "
      "subcommand");
  app.require_subcommand(1);
  // Global options are accepted after the subcommand too (`run --config x.toml`, the order
  // operators type): a subcommand passes the options it does not know up to its parent.
  // Inherited by every subcommand added below, nested ones included (`webhook configure`).
  app.fallthrough();

  unsigned io_threads = std::max(1u, std::min(4u, std::thread::hardware_concurrency()));
  auto* run =
      app.add_subcommand("run", "Run the daemon: the webhook endpoint, until SIGTERM or SIGINT");
  run->add_option("--io-threads", io_threads, "Threads serving HTTP and parsing bodies")
      ->check(CLI::Range(1, 64));

  auto* migrate =
      app.add_subcommand("migrate", "Create or upgrade every source's database file, then exit");

  std::string status_source;
  auto* status =
      app.add_subcommand("status", "Row counts per table and the last event received, per source");
  status->add_option("--source", status_source, "Only this source");

  sgs::daemon::sync_cli_options sync_options;
  auto* sync = sgs::daemon::add_sync_command(app, sync_options);
  sgs::daemon::check_cli_options check_options;
  auto* check = sgs::daemon::add_check_command(app, check_options);
  sgs::daemon::webhook_cli_options webhook_options;
  auto* webhook = sgs::daemon::add_webhook_command(app, webhook_options);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? exit_ok : exit_usage;
  }

  try {
    loaded_config lc = load_config(config_path);
    setup_logging(lc.cfg.log);
    // The one place the store implementation is chosen ([storage]).
    const auto storage = sgs::store::make_backend(lc.cfg.storage);
    if (*run) return cmd_run(lc, *storage, io_threads);
    if (*migrate) return cmd_migrate(lc, *storage);
    if (*status) return cmd_status(lc, *storage, status_source);
    if (*sync) return sgs::daemon::run_sync_command(lc.cfg, *storage, sync_options);
    if (*check) return sgs::daemon::run_check_command(lc.cfg, *storage, check_options);
    if (*webhook) return sgs::daemon::run_webhook_command(lc.cfg, *storage, webhook_options);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "sendgrid-source: %s\n", e.what());
    return exit_usage;
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "sendgrid-source: %s\n", e.what());
    return exit_runtime;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sendgrid-source: %s\n", e.what());
    return exit_runtime;
  }
  return exit_usage;
}
