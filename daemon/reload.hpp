// SIGHUP: re-read the configuration file and apply what is safe to change live.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <variant>

#include "config/config.hpp"
#include "webhook/auth.hpp"
#include "webhook/server.hpp"

namespace sgs::daemon {

// A source's webhook authentication built from its configuration and the keys `webhook
// configure` stored for it (`stored` may be null); the pointer owns the signature verifier the
// source_auth points at. The error names the source and the key.
std::variant<std::shared_ptr<const webhook::source_auth>, std::string> make_source_auth(
    const config::source_config& src, webhook::stored_keys* stored);

// What a reload works on; lives as long as the daemon's main loop.
struct reload_context {
  std::string config_path;  // "" when running on the built-in defaults (nothing to re-read)
  config::config running;   // what is in effect; updated by reload()
  webhook::server* server = nullptr;
  // Each source's keys stored by `webhook configure` (owned by the daemon's main loop).
  std::map<std::string, webhook::stored_keys*, std::less<>> stored_keys;
};

// Re-reads ctx.config_path. An unreadable or invalid file is refused with its errors and
// nothing changes. Otherwise applies the log level and each source's webhook keys and basic
// auth (swapped atomically: a request is checked against the old or the new, never a mix),
// and logs every changed key that needs a restart (listen address, storage, API keys, ...),
// keeping its running value. Logs what it did; returns false when the file was refused.
bool reload(reload_context& ctx);

}  // namespace sgs::daemon
