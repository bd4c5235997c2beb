// Reloadable versus restart-only configuration keys, each declared once in a table below.
#include "config/reload.hpp"

#include <algorithm>
#include <array>
#include <string_view>
#include <tuple>

namespace sgs::config {

namespace {

// One config key of a section: its path in messages, and how to compare and copy it. Every
// key a reload looks at is in exactly one of the tables below; a key in none of them is
// restart-only (caught by the "(other keys)" comparison), so a new key is safe by default.
template <class Section>
struct key {
  std::string_view path;  // "server.listen", "api_key" (a source's, prefixed when reported)
  bool (*differs)(const Section&, const Section&);
  void (*copy)(const Section& from, Section& to);
};

// The members of a key, as tuples of references (listen is host and port together).
template <class S, class... M>
auto fields(const S& s, M S::*... members) {
  return std::tie(s.*members...);
}
template <class S, class... M>
void copy_fields(const S& from, S& to, M S::*... members) {
  ((to.*members = from.*members), ...);
}

#define SGS_KEY(section, path, ...)                                                  \
  key<section> {                                                                     \
    path,                                                                            \
        [](const section& a, const section& b) {                                     \
          return fields(a, __VA_ARGS__) != fields(b, __VA_ARGS__);                   \
        },                                                                           \
        [](const section& from, section& to) { copy_fields(from, to, __VA_ARGS__); } \
  }

// [server]: bound and sized at start. public_url is read by `check` and `webhook configure`
// only, so a change needs nothing.
const std::array server_restart_keys = {
    SGS_KEY(server_config, "server.listen", &server_config::listen_host,
            &server_config::listen_port),
    SGS_KEY(server_config, "server.admin_listen", &server_config::admin_listen_host,
            &server_config::admin_listen_port),
    SGS_KEY(server_config, "server.max_body_bytes", &server_config::max_body_bytes),
    SGS_KEY(server_config, "server.header_timeout_seconds", &server_config::header_timeout),
    SGS_KEY(server_config, "server.body_timeout_seconds", &server_config::body_timeout),
    SGS_KEY(server_config, "server.idle_timeout_seconds", &server_config::idle_timeout),
    SGS_KEY(server_config, "server.max_connections", &server_config::max_connections),
    SGS_KEY(server_config, "server.max_events_per_request", &server_config::max_events_per_request),
};
const std::array server_unused_keys = {
    SGS_KEY(server_config, "server.public_url", &server_config::public_url),
};

// [storage]: the stores are open with these.
const std::array storage_restart_keys = {
    SGS_KEY(storage_config, "storage.backend", &storage_config::backend),
    SGS_KEY(storage_config, "storage.url", &storage_config::url),
    SGS_KEY(storage_config, "storage.url_file", &storage_config::url_file),
    SGS_KEY(storage_config, "storage.retention_days", &storage_config::retention_days),
    SGS_KEY(storage_config, "storage.dir", &storage_config::dir),
    SGS_KEY(storage_config, "storage.synchronous", &storage_config::synchronous),
    SGS_KEY(storage_config, "storage.dedup_window_hours", &storage_config::dedup_window_hours),
    SGS_KEY(storage_config, "storage.busy_timeout_ms", &storage_config::busy_timeout),
};

// [[source]]: webhook authentication is swapped live; the others are read by `check` only.
const std::array source_auth_keys = {
    SGS_KEY(source_config, "webhook_verification_key", &source_config::webhook_verification_keys),
    SGS_KEY(source_config, "webhook_basic_auth", &source_config::webhook_basic_auth),
    SGS_KEY(source_config, "webhook_max_age_seconds", &source_config::webhook_max_age_seconds),
};
const std::array source_check_keys = {
    SGS_KEY(source_config, "webhook_event_types", &source_config::webhook_event_types),
    SGS_KEY(source_config, "display_name", &source_config::display_name),
    SGS_KEY(source_config, "unsubscribe_group_id", &source_config::unsubscribe_group_id),
    SGS_KEY(source_config, "from_email", &source_config::from_email),
    SGS_KEY(source_config, "from_name", &source_config::from_name),
    SGS_KEY(source_config, "default_subject", &source_config::default_subject),
};
// The sync's scheduler holds its own copy of these (key, API host, interval).
const std::array source_restart_keys = {
    SGS_KEY(source_config, "api_key", &source_config::api_key),
    SGS_KEY(source_config, "api_base", &source_config::api_base),
    SGS_KEY(source_config, "on_behalf_of", &source_config::on_behalf_of),
    SGS_KEY(source_config, "sync_interval", &source_config::sync_interval),
    SGS_KEY(source_config, "collections", &source_config::collections),
    SGS_KEY(source_config, "suppression_reconcile_interval",
            &source_config::suppression_reconcile_interval),
    SGS_KEY(source_config, "stats_trailing_days", &source_config::stats_trailing_days),
    SGS_KEY(source_config, "stats_backfill_days", &source_config::stats_backfill_days),
};

#undef SGS_KEY

template <class S, class... Tables>
void copy_keys(const S& from, S& to, const Tables&... tables) {
  (
      [&] {
        for (const auto& k : tables) k.copy(from, to);
      }(),
      ...);
}

template <class S, class... Tables>
bool differs_elsewhere(const S& running, const S& fresh, const Tables&... known) {
  S rest = fresh;
  copy_keys(running, rest, known...);
  return !(rest == running);
}

const source_config* find_source(const config& c, const std::string& name) {
  for (const auto& s : c.sources) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace

reload_plan plan_reload(const config& running, const config& fresh) {
  reload_plan plan;
  plan.level_changed = running.log.level != fresh.log.level;
  auto restart = [&](std::string what) { plan.needs_restart.push_back(std::move(what)); };

  for (const auto& k : server_restart_keys) {
    if (k.differs(running.server, fresh.server)) restart(std::string(k.path));
  }
  if (differs_elsewhere(running.server, fresh.server, server_restart_keys, server_unused_keys))
    restart("server (other keys)");
  for (const auto& k : storage_restart_keys) {
    if (k.differs(running.storage, fresh.storage)) restart(std::string(k.path));
  }
  if (running.log.format != fresh.log.format) restart("log.format");

  for (const auto& r : running.sources) {
    const source_config* f = find_source(fresh, r.name);
    if (f == nullptr) {
      restart("source " + r.name + " (removed)");
      continue;
    }
    if (std::any_of(source_auth_keys.begin(), source_auth_keys.end(),
                    [&](const auto& k) { return k.differs(r, *f); })) {
      plan.auth_changed.push_back(r.name);
    }
    for (const auto& k : source_restart_keys) {
      if (k.differs(r, *f)) restart("source " + r.name + ": " + std::string(k.path));
    }
    if (differs_elsewhere(r, *f, source_auth_keys, source_check_keys, source_restart_keys))
      restart("source " + r.name + " (other keys)");
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
    if (const source_config* f = find_source(fresh, s.name))
      copy_keys(*f, s, source_auth_keys, source_check_keys);
  }
  return out;
}

}  // namespace sgs::config
