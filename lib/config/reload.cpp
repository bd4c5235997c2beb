// Reloadable versus restart-only configuration keys.
#include "config/reload.hpp"

#include <algorithm>

namespace sgs::config {

namespace {

const source_config* find_source(const config& c, const std::string& name) {
  for (const auto& s : c.sources) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// Copies the keys a reload applies (or that only `check` reads) from `from` into `to`.
void copy_live_source_keys(const source_config& from, source_config& to) {
  to.webhook_verification_keys = from.webhook_verification_keys;
  to.webhook_basic_auth = from.webhook_basic_auth;
  to.webhook_max_age_seconds = from.webhook_max_age_seconds;
  to.webhook_event_types = from.webhook_event_types;  // read by check / webhook configure only
  to.display_name = from.display_name;
  to.unsubscribe_group_id = from.unsubscribe_group_id;
  to.from_email = from.from_email;
  to.from_name = from.from_name;
  to.default_subject = from.default_subject;
}

}  // namespace

reload_plan plan_reload(const config& running, const config& fresh) {
  reload_plan plan;
  plan.level_changed = running.log.level != fresh.log.level;
  auto restart = [&](std::string what) { plan.needs_restart.push_back(std::move(what)); };

  // The listener is bound and the stores are open with these values.
  const auto& rs = running.server;
  const auto& fs = fresh.server;
  if (rs.listen_host != fs.listen_host || rs.listen_port != fs.listen_port)
    restart("server.listen");
  if (rs.max_body_bytes != fs.max_body_bytes) restart("server.max_body_bytes");
  if (rs.header_timeout != fs.header_timeout) restart("server.header_timeout_seconds");
  if (rs.body_timeout != fs.body_timeout) restart("server.body_timeout_seconds");
  if (rs.idle_timeout != fs.idle_timeout) restart("server.idle_timeout_seconds");
  if (rs.max_connections != fs.max_connections) restart("server.max_connections");
  if (rs.max_events_per_request != fs.max_events_per_request)
    restart("server.max_events_per_request");
  {
    // Keys added to [server] later are restart-only until someone makes them reloadable;
    // public_url is read by `check` and `webhook configure` only.
    server_config rest = fs;
    rest.listen_host = rs.listen_host;
    rest.listen_port = rs.listen_port;
    rest.max_body_bytes = rs.max_body_bytes;
    rest.header_timeout = rs.header_timeout;
    rest.body_timeout = rs.body_timeout;
    rest.idle_timeout = rs.idle_timeout;
    rest.max_connections = rs.max_connections;
    rest.max_events_per_request = rs.max_events_per_request;
    rest.public_url = rs.public_url;
    if (!(rest == rs)) restart("server (other keys)");
  }
  const auto& rt = running.storage;
  const auto& ft = fresh.storage;
  if (rt.dir != ft.dir) restart("storage.dir");
  if (rt.synchronous != ft.synchronous) restart("storage.synchronous");
  if (rt.dedup_window_hours != ft.dedup_window_hours) restart("storage.dedup_window_hours");
  if (rt.busy_timeout != ft.busy_timeout) restart("storage.busy_timeout_ms");
  if (running.log.format != fresh.log.format) restart("log.format");

  for (const auto& r : running.sources) {
    const source_config* f = find_source(fresh, r.name);
    if (f == nullptr) {
      restart("source " + r.name + " (removed)");
      continue;
    }
    if (r.webhook_verification_keys != f->webhook_verification_keys ||
        r.webhook_basic_auth != f->webhook_basic_auth ||
        r.webhook_max_age_seconds != f->webhook_max_age_seconds) {
      plan.auth_changed.push_back(r.name);
    }
    // The sync's scheduler holds its own copy of these (key, API host, interval).
    if (r.api_key != f->api_key) restart("source " + r.name + ": api_key");
    if (r.api_base != f->api_base) restart("source " + r.name + ": api_base");
    if (r.on_behalf_of != f->on_behalf_of) restart("source " + r.name + ": on_behalf_of");
    if (r.sync_interval != f->sync_interval) restart("source " + r.name + ": sync_interval");
    if (r.collections != f->collections) restart("source " + r.name + ": collections");
    source_config rest = *f;
    copy_live_source_keys(r, rest);
    rest.api_key = r.api_key;
    rest.api_base = r.api_base;
    rest.on_behalf_of = r.on_behalf_of;
    rest.sync_interval = r.sync_interval;
    rest.collections = r.collections;
    if (!(rest == r)) restart("source " + r.name + " (other keys)");
  }
  for (const auto& f : fresh.sources) {
    if (find_source(running, f.name) == nullptr) restart("source " + f.name + " (added)");
  }
  return plan;
}

config apply_reload(const config& running, const config& fresh) {
  config out = running;
  out.log.level = fresh.log.level;
  for (auto& s : out.sources) {
    if (const source_config* f = find_source(fresh, s.name)) copy_live_source_keys(*f, s);
  }
  return out;
}

}  // namespace sgs::config
