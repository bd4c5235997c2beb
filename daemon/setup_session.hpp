// What the set-up commands (check, webhook configure) share: where a source's database and
// webhook URL are, and an API session for a short interactive command.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>

#include "config/config.hpp"
#include "exit_codes.hpp"
#include "sendgrid/client.hpp"
#include "sendgrid/session.hpp"

namespace sgs::daemon::setup_cli {

using daemon::exit_ok;
using daemon::exit_runtime;
using daemon::exit_usage;

inline std::string webhook_path(const std::string& source) {
  return "/webhooks/sendgrid/" + source;
}

// The URL SendGrid should post to; "" when server.public_url is not set.
inline std::string expected_url(const config::config& cfg, const std::string& source) {
  return cfg.server.public_url.empty() ? "" : cfg.server.public_url + webhook_path(source);
}

// A short interactive command: fewer and shorter retries than the sync's.
inline sendgrid::retry_policy interactive_policy() {
  sendgrid::retry_policy p;
  p.max_attempts = 3;
  p.backoff_cap = std::chrono::seconds(5);
  p.max_rate_limit_waits = 3;
  p.max_rate_limit_wait = std::chrono::seconds(30);
  return p;
}

struct api {
  sendgrid::api_client client;
  sendgrid::api_session session;
  explicit api(sendgrid::client_options options)
      : client(std::move(options)), session(client, interactive_policy(), env()) {}
  static sendgrid::session_env env() {
    auto e = sendgrid::real_session_env(std::stop_token{});
    e.notice = [](std::string_view text) {
      std::fprintf(stderr, "  (%.*s)\n", static_cast<int>(text.size()), text.data());
    };
    return e;
  }
};

inline sendgrid::client_options client_options_for(const config::source_config& src,
                                                   std::string key) {
  sendgrid::client_options o;
  o.api_base = src.api_base;
  o.api_key = std::move(key);
  o.on_behalf_of = src.on_behalf_of;
  o.request_timeout = std::chrono::seconds(30);
  return o;
}

}  // namespace sgs::daemon::setup_cli
