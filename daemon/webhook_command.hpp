// The `webhook configure` subcommand, and the stored keys `run` verifies with.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "store/backend.hpp"
#include "webhook/stored_keys.hpp"

namespace sgs::daemon {

struct webhook_cli_options {
  std::string source;
  std::string url;  // "" = server.public_url + /webhooks/sendgrid/<source>
  bool test = false;
  int wait_seconds = 60;
};

// Registers `webhook configure --source N [--url URL] [--test] [--wait-seconds S]` and
// returns the `webhook` command.
CLI::App* add_webhook_command(CLI::App& app, webhook_cli_options& out);

// Configures the source's Event Webhook. 0 done (and, with --test, the test events arrived),
// 1 an API or storage failure or no test event in time, 2 usage or configuration errors.
int run_webhook_command(const config::config& cfg, store::backend& storage,
                        const webhook_cli_options& options);

// The keys `webhook configure` stored for `source`, for `run`: re-read while it runs,
// problems logged as warnings.
std::unique_ptr<webhook::stored_keys> open_stored_keys(const std::string& source,
                                                       store::backend& storage);

}  // namespace sgs::daemon
