// `sendgrid-source webhook configure`: points the account's Event Webhook at a source through
// lib/setup, stores its signing key, and with --test waits for SendGrid's test events.
#include "webhook_command.hpp"

#include <unistd.h>

#include <cstdio>
#include <thread>

#include "config/secrets.hpp"
#include "logging/log.hpp"
#include "setup/account_setup.hpp"
#include "setup_session.hpp"
#include "sources.hpp"
#include "text/iso8601.hpp"

namespace sgs::daemon {

using namespace setup_cli;

CLI::App* add_webhook_command(CLI::App& app, webhook_cli_options& out) {
  auto* webhook = app.add_subcommand(
      "webhook",
      "The account's Event Webhook: `webhook configure --source N [--url URL] [--test]`");
  webhook->require_subcommand(1);
  auto* cmd = webhook->add_subcommand(
      "configure",
      "Point the account's Event Webhook at a source, turn signing on and store the key");
  cmd->footer(
      "Finds the account's Event Webhook whose Post URL is the URL and updates it (never creates "
      "a duplicate), or creates one; enables it and the event types in the source's "
      "webhook_event_types (default: those SendGrid enables by default); turns "
      "signature verification on (if it is off) and stores SendGrid's public key in the "
      "source's database, where a running daemon picks it up within a second (no config edit, "
      "no restart): from then on unsigned posts to the source are refused.\n"
      "The API key needs user.webhooks.event.settings.read and user.webhooks.event.settings."
      "update (and user.webhooks.event.test.create for --test).\n"
      "Exit 0 done, 1 failed (SendGrid refused, or no test event in time), 2 usage or config "
      "error.");
  cmd->add_option("--source", out.source, "The source to configure")->required();
  cmd->add_option("--url", out.url,
                  "The HTTP Post URL (default: server.public_url + /webhooks/sendgrid/<source>)");
  cmd->add_flag("--test", out.test,
                "Then ask SendGrid to post its test events and wait until one is in the source's "
                "database (the daemon must be running and reachable at the URL)");
  cmd->add_option("--wait-seconds", out.wait_seconds, "How long --test waits for the events")
      ->check(CLI::Range(1, 3600));
  return webhook;
}

int run_webhook_command(const config::config& cfg, store::backend& storage,
                        const webhook_cli_options& options) {
  const auto* src = &find_source(cfg, options.source);
  std::string url = options.url.empty() ? expected_url(cfg, src->name) : options.url;
  if (url.empty()) {
    std::fprintf(stderr,
                 "sendgrid-source: webhook configure: no URL for source '%s': pass --url "
                 "https://<host>%s or set server.public_url in the config\n",
                 src->name.c_str(), webhook_path(src->name).c_str());
    return exit_usage;
  }
  if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0) {
    std::fprintf(stderr, "sendgrid-source: --url must start with https:// (got '%s')\n",
                 url.c_str());
    return exit_usage;
  }
  while (url.size() > 8 && url.back() == '/') url.pop_back();
  const auto value = api_key_of(*src);
  if (!value) {
    std::fprintf(stderr,
                 "sendgrid-source: source '%s' has no API key: set api_key_file (or api_key_env) "
                 "in its [[source]] section; the key needs user.webhooks.event.settings.read and "
                 ".update\n",
                 src->name.c_str());
    return exit_usage;
  }
  if (url.size() < webhook_path(src->name).size() ||
      url.compare(url.size() - webhook_path(src->name).size(), std::string::npos,
                  webhook_path(src->name)) != 0) {
    std::fprintf(stderr,
                 "sendgrid-source: note: %s does not end in %s, the path the daemon serves for "
                 "this source; fine if a proxy rewrites it\n",
                 url.c_str(), webhook_path(src->name).c_str());
  }

  const std::string database = storage.location(src->name);
  std::optional<std::string> baseline;
  if (options.test) {
    try {
      baseline = setup::last_arrival(storage, src->name);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sendgrid-source: %s\n", e.what());
      return exit_runtime;
    }
  }
  setup::configure_request request;
  request.source = src->name;
  request.api_base = src->api_base;
  request.on_behalf_of = src->on_behalf_of;
  request.url = url;
  request.event_types = src->webhook_event_types;
  request.storage = &storage;
  request.send_test = options.test;
  request.now_iso8601 = [] { return text::iso8601_utc(std::chrono::system_clock::now()); };

  std::printf("source %s: Event Webhook %s\n", src->name.c_str(), url.c_str());
  api a(client_options_for(*src, *value));
  const auto result = setup::configure_webhook(a.session, request);
  for (const auto& step : result.steps) std::printf("  \u2713 %s\n", step.c_str());
  if (!result.ok) {
    std::printf("  \u2717 %s\n", result.error.c_str());
    return exit_runtime;
  }
  if (!result.test_requested) return exit_ok;

  // Wait for the test events, with progress: a redrawn line on a terminal, a line every
  // 10 s otherwise.
  const bool tty = isatty(STDERR_FILENO) == 1;
  const auto timeout = std::chrono::seconds(options.wait_seconds);
  std::fprintf(stderr, "  waiting up to %d s for the test events to reach %s ...%s",
               options.wait_seconds, database.c_str(), tty ? "" : "\n");
  const bool arrived = setup::wait_for_arrival(
      storage, src->name, baseline, timeout, std::chrono::milliseconds(500),
      [](std::chrono::milliseconds d) {
        std::this_thread::sleep_for(d);
        return true;
      },
      [&](std::chrono::milliseconds waited) {
        const auto s = std::chrono::duration_cast<std::chrono::seconds>(waited).count();
        if (tty) {
          std::fprintf(stderr, "\r\033[K  waiting for the test events: %llds of %d",
                       static_cast<long long>(s), options.wait_seconds);
        } else if (waited.count() % 10000 == 0) {
          std::fprintf(stderr, "  still waiting: %llds\n", static_cast<long long>(s));
        }
      });
  if (tty) std::fprintf(stderr, "\n");
  if (!arrived) {
    std::printf(
        "  \u2717 no event arrived within %d s: check that `sendgrid-source run` is running and "
        "reachable at %s (reverse proxy, firewall, TLS), and look in its log for refused posts "
        "(403 = signature)\n",
        options.wait_seconds, url.c_str());
    return exit_runtime;
  }
  std::printf("  \u2713 the test events arrived (last received at %s)\n",
              setup::last_arrival(storage, src->name).value_or("?").c_str());
  return exit_ok;
}

std::unique_ptr<webhook::stored_keys> open_stored_keys(const std::string& source,
                                                       store::backend& storage) {
  return std::make_unique<webhook::stored_keys>(
      storage.poll_webhook_keys(source), [source](std::string_view error) {
        logging::warn("stored webhook keys cannot be read", {{"source", source}, {"error", error}});
      });
}

}  // namespace sgs::daemon
