// Daemon configuration: defaults, TOML parsing and validation with key paths (pure).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sgs::config {

struct server_config {
  std::string listen_host = "127.0.0.1";  // from listen = "HOST:PORT" ("[::1]:8080" for IPv6);
                                          // IPv6 is kept without the brackets
  std::uint16_t listen_port = 8080;       // 0 = any free port (tests)
  // admin_listen = "HOST:PORT": /healthz and /metrics are served only there (404 on the
  // public listener). "" = not set: the public listener serves them.
  std::string admin_listen_host;
  std::uint16_t admin_listen_port = 0;
  std::string public_url;  // "" = not set; used by check / webhook configure;
                           // http(s), no trailing '/'
  std::uint64_t max_body_bytes = 8 * 1024 * 1024;
  std::chrono::seconds header_timeout{10};  // header_timeout_seconds
  std::chrono::seconds body_timeout{30};    // body_timeout_seconds
  std::chrono::seconds idle_timeout{60};    // idle_timeout_seconds (keep-alive)
  std::uint32_t max_connections = 512;
  std::uint32_t max_events_per_request = 50000;  // array elements in one body; 413 above
  // HTTPS on the listener when both are set (PEM files; checked to load at start, reloaded
  // on SIGHUP). "" = plain HTTP. Relative paths are used as given.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::chrono::seconds tls_handshake_timeout{10};  // tls_handshake_timeout_seconds

  bool operator==(const server_config&) const = default;
};

enum class synchronous_mode { full, normal };
enum class storage_backend { sqlite, postgresql };

struct storage_config {
  storage_backend backend = storage_backend::sqlite;
  std::filesystem::path dir = "/var/lib/sendgrid-source";  // sqlite; unused by postgresql
  synchronous_mode synchronous = synchronous_mode::full;
  std::uint32_t dedup_window_hours = 72;
  std::chrono::milliseconds busy_timeout{5000};  // busy_timeout_ms
  // postgresql: a libpq URI ("postgresql://user@host:5432/db"), or a file holding it (with the
  // password; relative paths resolve against $CREDENTIALS_DIRECTORY). Exactly one is set. A
  // password may also come from PGPASSWORD or ~/.pgpass, as libpq reads them.
  std::string url{};
  std::filesystem::path url_file{};
  // postgresql: drop the monthly event partitions older than this many days; 0 = keep all.
  std::uint32_t retention_days = 0;

  bool operator==(const storage_config&) const = default;
};

// A source's SQLite file: <storage.dir>/<source>.db (its journal of acknowledged bodies is
// beside it: <source>.pending.db).
std::filesystem::path source_database_file(const storage_config& storage, std::string_view source);

enum class log_format { text, json };

struct log_config {
  std::string level = "info";  // trace | debug | info | warn | error
  log_format format = log_format::text;

  bool operator==(const log_config&) const = default;
};

// Where the API key comes from; at most one of these is set. The key itself is read at
// start by the daemon (resolve_api_key), never kept in this struct's printable form.
struct api_key_source {
  std::optional<std::string> inline_key;      // api_key = "SG...."
  std::optional<std::filesystem::path> file;  // api_key_file; relative paths resolve against
                                              // $CREDENTIALS_DIRECTORY when it is set
  std::optional<std::string> env;             // api_key_env = "VAR"
  bool empty() const { return !inline_key && !file && !env; }

  bool operator==(const api_key_source&) const = default;
};

// Every event type an Event Webhook can post, by SendGrid's switch names (sendgrid-api.md
// §11), in the order of the event tables.
inline constexpr std::string_view webhook_event_type_names[] = {
    "processed",
    "dropped",
    "delivered",
    "deferred",
    "bounce",
    "open",
    "click",
    "spam_report",
    "unsubscribe",
    "group_unsubscribe",
    "group_resubscribe",
    "account_status_change",
};

// The default of webhook_event_types: the types SendGrid enables by default, i.e. all but
// account_status_change, which a webhook leaves off unless asked and shows only with
// ?include=account_status_change (sendgrid-api.md §7, §11).
std::vector<std::string> default_webhook_event_types();

struct source_config {
  std::string name;  // [a-z0-9_]+
  api_key_source api_key;
  std::string api_base = "https://api.sendgrid.com";  // http(s), no trailing '/'
  std::string on_behalf_of;                           // "" = none
  std::chrono::seconds sync_interval{3 * 3600};       // "3h", "90m", "45s", "1h30m"
  // Collection names, or "all" (the default): every collection the key's scopes allow, but
  // the opt-in `messages` (which "all" includes only when it is listed too).
  std::vector<std::string> collections = {"all"};
  // Suppressions: how often a full read tombstones the ones SendGrid no longer lists (the
  // runs between are incremental on `created`).
  std::chrono::seconds suppression_reconcile_interval{24 * 3600};
  std::int64_t stats_trailing_days = 3;    // stats days re-read every run (they still change)
  std::int64_t stats_backfill_days = 365;  // how far back the first run reads stats
  std::vector<std::string> webhook_verification_keys;  // string or list of strings in TOML
  // The event types `check` requires the webhook to post and `webhook configure` enables
  // (names from webhook_event_type_names); the others are only recommended.
  std::vector<std::string> webhook_event_types = default_webhook_event_types();
  std::optional<std::string> webhook_basic_auth;  // "user:password"
  std::optional<std::int64_t> webhook_max_age_seconds;
  // OAuth client credentials as entered in SendGrid's webhook settings; "" = OAuth off. The
  // secret comes inline or from a file (relative: against $CREDENTIALS_DIRECTORY).
  std::string webhook_oauth_client_id;
  std::optional<std::string> webhook_oauth_client_secret;
  std::optional<std::filesystem::path> webhook_oauth_client_secret_file;
  std::chrono::seconds webhook_oauth_token_ttl{3600};  // lifetime of the tokens issued
  std::string display_name;
  std::optional<std::int64_t> unsubscribe_group_id;
  std::string from_email;
  std::string from_name;
  std::string default_subject;

  bool operator==(const source_config&) const = default;
};

struct config {
  server_config server;
  storage_config storage;
  log_config log;
  std::vector<source_config> sources;

  bool operator==(const config&) const = default;
};

// One problem in a config file: "source[1].name: must match [a-z0-9_]+ (got "Bad Name")".
struct config_error {
  std::string key_path;  // e.g. "server.listen", "source[0].sync_interval"
  std::string message;
  std::optional<std::uint32_t> line;  // 1-based line in the file when known
};

// The configuration used when no file is given and none is found: listens on
// 127.0.0.1:8080, stores in ./data, one source named "default" without an API key.
config default_config();

// The same defaults as TOML text, for `--print-default-config` style help.
std::string_view default_config_toml();

// Parses and validates TOML text. Unknown keys, wrong types and bad values are all
// reported at once, each with its key path and line. `origin` names the file in messages.
std::variant<config, std::vector<config_error>> parse_config(std::string_view toml_text,
                                                             std::string_view origin);

// Formats errors as "<origin>:<line>: <key_path>: <message>" lines.
std::string format_errors(const std::vector<config_error>& errors, std::string_view origin);

// The longest duration parse_duration accepts (10 years): small enough that adding it to
// any std::chrono clock's time_point, even in nanoseconds, cannot overflow.
inline constexpr std::chrono::seconds max_duration{10LL * 365 * 24 * 3600};

// Parses durations like "3h", "90m", "45s", "1h30m", "2d"; nullopt when malformed, zero or
// over max_duration. Units go largest first, each at most once (d, h, m, s).
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

}  // namespace sgs::config
