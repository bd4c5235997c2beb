// Daemon configuration: defaults, TOML parsing and validation with key paths (pure).
//
// Config goes defaults -> parse -> validate. The struct defaults in config.hpp are the
// defaults of every key; the file overrides them. Validation never stops at the first
// problem: every reader below records its errors and carries on, so an operator fixes a
// file in one round trip instead of one error per restart.
#include "config/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <limits>

namespace sgs::config {
namespace {

using error_list = std::vector<config_error>;

std::optional<std::uint32_t> line_of(const toml::source_region& region) {
  // toml++ uses 0 for "no position" (e.g. tables it created implicitly).
  if (region.begin.line == 0) return std::nullopt;
  return region.begin.line;
}

std::optional<std::uint32_t> line_of(const toml::node* node) {
  if (node == nullptr) return std::nullopt;
  return line_of(node->source());
}

std::string_view type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "table";
    case toml::node_type::array:
      return "array";
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// Quotes a value for an error message. Long values are cut so one bad line cannot flood
// the terminal; control characters are escaped so the message stays one line.
std::string shown(std::string_view text) {
  constexpr std::size_t max_shown = 80;
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < max_shown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      constexpr std::string_view hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > max_shown) out += "...";
  out += '"';
  return out;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Levenshtein distance, case-insensitive, for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> previous(b.size() + 1);
  std::vector<std::size_t> current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitution =
          previous[j - 1] + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

// A suggestion only when the typo is small relative to the key; otherwise "did you mean
// `log`?" for "foo" would mislead more than it helps. A key that is a known key without its
// unit ("header_timeout" for "header_timeout_seconds") is the other common slip.
std::optional<std::string_view> closest_key(std::string_view key,
                                            const std::vector<std::string_view>& known) {
  if (key.size() >= 4) {
    for (const auto candidate : known) {
      if (candidate.size() > key.size() && candidate.starts_with(key) &&
          candidate[key.size()] == '_') {
        return candidate;
      }
    }
  }
  std::optional<std::string_view> best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (const auto candidate : known) {
    const std::size_t distance = edit_distance(key, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  const std::size_t allowed = std::min<std::size_t>(3, std::max<std::size_t>(1, key.size() / 3));
  if (best && best_distance <= allowed) return best;
  return std::nullopt;
}

// Reads one TOML table. Every key the program knows is asked for by name, present or not,
// so whatever is left over in finish() is an unknown key.
class table_reader {
 public:
  table_reader(const toml::table& table, std::string path, error_list& errors)
      : table_(table), path_(std::move(path)), errors_(errors) {}

  std::string key_path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  const std::string& path() const { return path_; }

  const toml::node* find(std::string_view key) {
    known_.push_back(key);
    return table_.get(key);
  }

  void error(std::string_view key, std::string message, const toml::node* at) {
    errors_.push_back({key_path(key), std::move(message), line_of(at)});
  }

  void type_error(std::string_view key, std::string_view expected, const toml::node& got) {
    error(key,
          "must be " + std::string(expected) + " (got " + std::string(type_name(got.type())) + ")",
          &got);
  }

  // The string at `key`, or nullopt when absent or of another type (reported).
  std::optional<std::string> string(std::string_view key) {
    const toml::node* node = find(key);
    if (node == nullptr) return std::nullopt;
    if (const auto* value = node->as_string()) return value->get();
    type_error(key, "a string", *node);
    return std::nullopt;
  }

  std::optional<std::int64_t> integer(std::string_view key) {
    const toml::node* node = find(key);
    if (node == nullptr) return std::nullopt;
    if (const auto* value = node->as_integer()) return value->get();
    type_error(key, "an integer", *node);
    return std::nullopt;
  }

  // An integer in [min, max]; `out` keeps its default when absent or invalid.
  template <typename T>
  void integer_in(std::string_view key, T& out, std::int64_t min, std::int64_t max) {
    const auto value = integer(key);
    if (!value) return;
    if (*value < min || *value > max) {
      std::string message =
          (min == 1 && max == std::numeric_limits<std::int64_t>::max()) ? "must be greater than 0"
          : min == 1 ? "must be from 1 to " + std::to_string(max)
                     : "must be from " + std::to_string(min) + " to " + std::to_string(max);
      error(key, message + " (got " + std::to_string(*value) + ")", table_.get(key));
      return;
    }
    out = static_cast<T>(*value);
  }

  // A sub-table at `key`, or nullptr when absent or not a table (reported).
  const toml::table* table(std::string_view key) {
    const toml::node* node = find(key);
    if (node == nullptr) return nullptr;
    if (const auto* value = node->as_table()) return value;
    type_error(key, "a table ([" + key_path(key) + "])", *node);
    return nullptr;
  }

  void finish() {
    for (const auto& [key, node] : table_) {
      const std::string_view name = key.str();
      if (std::find(known_.begin(), known_.end(), name) != known_.end()) continue;
      std::string message = "unknown key";
      if (const auto suggestion = closest_key(name, known_)) {
        message += "; did you mean `" + std::string(*suggestion) + "`?";
      }
      auto line = line_of(key.source());
      if (!line) line = line_of(&node);
      errors_.push_back({key_path(name), std::move(message), line});
    }
  }

 private:
  const toml::table& table_;
  std::string path_;
  error_list& errors_;
  std::vector<std::string_view> known_;
};

// Helpers that judge one value; each returns the problem, or nullopt when the value is fine.
using problem = std::optional<std::string>;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f'); }
bool is_space_or_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

// "HOST:PORT" or "[IPV6]:PORT". Host names are allowed (the server resolves them); an
// unbracketed IPv6 address is refused because its last group cannot be told from a port.
problem parse_listen(std::string_view text, std::string& host, std::uint16_t& port) {
  const std::string example = "must be HOST:PORT such as \"127.0.0.1:8080\" or \"[::1]:8080\"";
  std::string_view host_part;
  std::string_view port_part;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return example + " (got " + shown(text) + ")";
    }
    host_part = text.substr(1, close - 1);
    port_part = text.substr(close + 2);
    const bool ipv6_chars = std::all_of(host_part.begin(), host_part.end(),
                                        [](char c) { return is_hex(c) || c == ':' || c == '.'; });
    if (host_part.find(':') == std::string_view::npos || !ipv6_chars) {
      return "brackets must hold an IPv6 address such as [::1] (got " + shown(text) + ")";
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return example + " (got " + shown(text) + ")";
    host_part = text.substr(0, colon);
    port_part = text.substr(colon + 1);
    if (host_part.find(':') != std::string_view::npos) {
      return "an IPv6 address must be in brackets, such as \"[::1]:8080\" (got " + shown(text) +
             ")";
    }
    if (host_part.empty()) {
      return "the host is missing: use \"0.0.0.0:PORT\" for every IPv4 interface or "
             "\"[::]:PORT\" for every interface (got " +
             shown(text) + ")";
    }
    const bool name_chars = std::all_of(host_part.begin(), host_part.end(), [](char c) {
      return is_alpha(c) || is_digit(c) || c == '.' || c == '-';
    });
    if (!name_chars) {
      return "the host must be an IP address or a host name (got " + shown(text) + ")";
    }
  }
  const bool port_digits = !port_part.empty() && port_part.size() <= 5 &&
                           std::all_of(port_part.begin(), port_part.end(), is_digit);
  std::uint32_t number = 0;
  for (const char c : port_part) number = number * 10 + static_cast<std::uint32_t>(c - '0');
  if (!port_digits || number > 65535) {
    return "the port must be a number from 0 to 65535 (got " + shown(text) + ")";
  }
  host = std::string(host_part);
  port = static_cast<std::uint16_t>(number);
  return std::nullopt;
}

// An absolute http(s) URL with a host. Query and fragment are refused because the program
// appends paths to these URLs.
problem url_problem(std::string_view url) {
  const std::string got = " (got " + shown(url) + ")";
  std::string_view rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return "must be an http:// or https:// URL" + got;
  }
  if (std::any_of(url.begin(), url.end(), is_space_or_control)) {
    return "must not contain spaces or control characters" + got;
  }
  if (url.find_first_of("?#") != std::string_view::npos) {
    return "must not have a query or fragment" + got;
  }
  const auto host_end = rest.find('/');
  if (rest.substr(0, host_end).empty()) return "must name a host" + got;
  return std::nullopt;
}

// Paths are appended to these URLs, so a trailing '/' would give "//" in requests.
std::string without_trailing_slashes(std::string url) {
  while (url.size() > 1 && url.back() == '/' && !url.ends_with("://")) url.pop_back();
  return url;
}

bool is_base64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return false;
  std::size_t padding = 0;
  if (text.ends_with("==")) {
    padding = 2;
  } else if (text.ends_with('=')) {
    padding = 1;
  }
  return std::all_of(text.begin(), text.end() - static_cast<std::ptrdiff_t>(padding),
                     [](char c) { return is_alpha(c) || is_digit(c) || c == '+' || c == '/'; });
}

problem verification_key_problem(std::string_view key) {
  if (key.empty()) return std::string("must not be empty");
  if (key.find("-----BEGIN") != std::string_view::npos) {
    return std::string(
        "must be the base64 key as SendGrid shows it, without the -----BEGIN/END----- lines");
  }
  // Not echoed: a whole key in a message is noise, and the line number finds it.
  if (!is_base64(key)) {
    return std::string(
        "must be base64 (the \"Verification Key\" from Settings > Mail Settings > Event Webhook)");
  }
  return std::nullopt;
}

bool is_source_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_';
  });
}

bool is_env_name(std::string_view name) {
  return !name.empty() && !is_digit(name.front()) &&
         std::all_of(name.begin(), name.end(),
                     [](char c) { return is_alpha(c) || is_digit(c) || c == '_'; });
}

constexpr std::size_t max_source_name_length = 64;
constexpr std::array<std::string_view, 22> known_collections = {"all",
                                                                "lists",
                                                                "segments",
                                                                "recipients",
                                                                "campaigns",
                                                                "bounces",
                                                                "blocks",
                                                                "spam_reports",
                                                                "invalid_emails",
                                                                "global_unsubscribes",
                                                                "unsubscribe_groups",
                                                                "group_suppressions",
                                                                "templates",
                                                                "template_versions",
                                                                "senders",
                                                                "verified_senders",
                                                                "field_definitions",
                                                                "stats_daily",
                                                                "category_stats_daily",
                                                                "singlesend_stats",
                                                                "automation_stats",
                                                                "messages"};
constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();

// Both files or neither: a certificate without its key (or the reverse) is a half-done
// set-up that would otherwise fail only at the first connection.
void read_tls(table_reader& reader, server_config& out) {
  if (const auto cert = reader.string("tls_cert_file")) {
    if (cert->empty()) {
      reader.error("tls_cert_file", "must not be empty (remove the line for plain HTTP)",
                   reader.find("tls_cert_file"));
    } else {
      out.tls_cert_file = *cert;
    }
  }
  if (const auto key = reader.string("tls_key_file")) {
    if (key->empty()) {
      reader.error("tls_key_file", "must not be empty (remove the line for plain HTTP)",
                   reader.find("tls_key_file"));
    } else {
      out.tls_key_file = *key;
    }
  }
  if (!out.tls_cert_file.empty() && out.tls_key_file.empty() &&
      reader.find("tls_key_file") == nullptr) {
    reader.error("tls_key_file", "is required when tls_cert_file is set (the certificate's key)",
                 reader.find("tls_cert_file"));
  }
  if (!out.tls_key_file.empty() && out.tls_cert_file.empty() &&
      reader.find("tls_cert_file") == nullptr) {
    reader.error("tls_cert_file", "is required when tls_key_file is set (the key's certificate)",
                 reader.find("tls_key_file"));
  }
  std::int64_t seconds = out.tls_handshake_timeout.count();
  reader.integer_in("tls_handshake_timeout_seconds", seconds, 1, int64_max);
  out.tls_handshake_timeout = std::chrono::seconds(seconds);
}

void read_server(table_reader& reader, server_config& out) {
  if (const auto listen = reader.string("listen")) {
    if (auto bad = parse_listen(*listen, out.listen_host, out.listen_port)) {
      reader.error("listen", std::move(*bad), reader.find("listen"));
    }
  }
  if (const auto admin = reader.string("admin_listen")) {
    if (auto bad = parse_listen(*admin, out.admin_listen_host, out.admin_listen_port)) {
      reader.error("admin_listen", std::move(*bad), reader.find("admin_listen"));
    } else if (out.admin_listen_host == out.listen_host &&
               out.admin_listen_port == out.listen_port && out.listen_port != 0) {
      reader.error("admin_listen", "must differ from server.listen", reader.find("admin_listen"));
    }
  }
  if (const auto url = reader.string("public_url")) {
    if (auto bad = url_problem(*url)) {
      reader.error("public_url", std::move(*bad), reader.find("public_url"));
    } else {
      out.public_url = without_trailing_slashes(*url);
    }
  }
  reader.integer_in("max_body_bytes", out.max_body_bytes, 1, int64_max);
  std::int64_t seconds = out.header_timeout.count();
  reader.integer_in("header_timeout_seconds", seconds, 1, int64_max);
  out.header_timeout = std::chrono::seconds(seconds);
  seconds = out.body_timeout.count();
  reader.integer_in("body_timeout_seconds", seconds, 1, int64_max);
  out.body_timeout = std::chrono::seconds(seconds);
  seconds = out.idle_timeout.count();
  reader.integer_in("idle_timeout_seconds", seconds, 1, int64_max);
  out.idle_timeout = std::chrono::seconds(seconds);
  reader.integer_in("max_connections", out.max_connections, 1,
                    std::numeric_limits<std::uint32_t>::max());
  reader.integer_in("max_events_per_request", out.max_events_per_request, 1,
                    std::numeric_limits<std::uint32_t>::max());
  read_tls(reader, out);
}

void read_storage(table_reader& reader, storage_config& out) {
  if (const auto backend = reader.string("backend")) {
    if (*backend == "sqlite") {
      out.backend = storage_backend::sqlite;
    } else if (*backend == "postgresql") {
      out.backend = storage_backend::postgresql;
    } else {
      reader.error("backend", "must be \"sqlite\" or \"postgresql\" (got " + shown(*backend) + ")",
                   reader.find("backend"));
    }
  }
  // The URL is never echoed in an error: it may hold a password.
  if (const auto url = reader.string("url")) {
    if (url->rfind("postgresql://", 0) != 0 && url->rfind("postgres://", 0) != 0) {
      reader.error("url",
                   "must be a libpq URI starting with postgresql:// (see config.toml.example)",
                   reader.find("url"));
    } else {
      out.url = *url;
    }
  }
  if (const auto file = reader.string("url_file")) {
    if (file->empty()) {
      reader.error("url_file", "must not be empty", reader.find("url_file"));
    } else {
      out.url_file = *file;
    }
  }
  reader.integer_in("retention_days", out.retention_days, 0,
                    std::numeric_limits<std::uint32_t>::max());
  if (out.backend == storage_backend::postgresql) {
    if (out.url.empty() && out.url_file.empty() && reader.find("url") == nullptr &&
        reader.find("url_file") == nullptr) {
      reader.error("url", "is required with backend = \"postgresql\" (or url_file)",
                   reader.find("backend"));
    } else if (!out.url.empty() && !out.url_file.empty()) {
      reader.error("url_file", "set url or url_file, not both", reader.find("url_file"));
    }
  } else if (!out.url.empty() || !out.url_file.empty() || out.retention_days != 0) {
    const char* key = !out.url.empty()        ? "url"
                      : !out.url_file.empty() ? "url_file"
                                              : "retention_days";
    reader.error(key, "only applies with backend = \"postgresql\"", reader.find(key));
  }
  if (const auto dir = reader.string("dir")) {
    if (dir->empty()) {
      reader.error("dir", "must not be empty", reader.find("dir"));
    } else {
      out.dir = *dir;
    }
  }
  if (const auto mode = reader.string("synchronous")) {
    if (*mode == "full") {
      out.synchronous = synchronous_mode::full;
    } else if (*mode == "normal") {
      out.synchronous = synchronous_mode::normal;
    } else {
      reader.error("synchronous", "must be \"full\" or \"normal\" (got " + shown(*mode) + ")",
                   reader.find("synchronous"));
    }
  }
  reader.integer_in("dedup_window_hours", out.dedup_window_hours, 1,
                    std::numeric_limits<std::uint32_t>::max());
  // sqlite3_busy_timeout takes an int; 0 is legitimate there (fail at once when locked).
  std::int64_t busy_ms = out.busy_timeout.count();
  reader.integer_in("busy_timeout_ms", busy_ms, 0, std::numeric_limits<std::int32_t>::max());
  out.busy_timeout = std::chrono::milliseconds(busy_ms);
}

void read_log(table_reader& reader, log_config& out) {
  if (const auto level = reader.string("level")) {
    constexpr std::array<std::string_view, 5> levels = {"trace", "debug", "info", "warn", "error"};
    if (std::find(levels.begin(), levels.end(), *level) != levels.end()) {
      out.level = *level;
    } else {
      reader.error("level",
                   "must be one of trace, debug, info, warn, error (got " + shown(*level) + ")",
                   reader.find("level"));
    }
  }
  if (const auto format = reader.string("format")) {
    if (*format == "text") {
      out.format = log_format::text;
    } else if (*format == "json") {
      out.format = log_format::json;
    } else {
      reader.error("format", "must be \"text\" or \"json\" (got " + shown(*format) + ")",
                   reader.find("format"));
    }
  }
}

// The API key's value never appears in a message: a config error can end up in a ticket.
void read_api_key(table_reader& reader, api_key_source& out) {
  std::vector<std::string_view> set;
  if (const auto key = reader.string("api_key")) {
    set.push_back("api_key");
    if (key->empty()) {
      reader.error("api_key", "must not be empty", reader.find("api_key"));
    } else {
      out.inline_key = *key;
    }
  }
  if (const auto file = reader.string("api_key_file")) {
    set.push_back("api_key_file");
    if (file->empty()) {
      reader.error("api_key_file", "must not be empty", reader.find("api_key_file"));
    } else {
      out.file = *file;
    }
  }
  if (const auto env = reader.string("api_key_env")) {
    set.push_back("api_key_env");
    if (!is_env_name(*env)) {
      reader.error("api_key_env",
                   "must be an environment variable name such as \"SENDGRID_API_KEY\" (got " +
                       shown(*env) + ")",
                   reader.find("api_key_env"));
    } else {
      out.env = *env;
    }
  }
  for (std::size_t i = 1; i < set.size(); ++i) {
    reader.error(set[i],
                 "only one of api_key, api_key_file and api_key_env may be set (" +
                     std::string(set[0]) + " is set too)",
                 reader.find(set[i]));
  }
}

void read_collections(table_reader& reader, std::vector<std::string>& out) {
  const toml::node* node = reader.find("collections");
  if (node == nullptr) return;
  const auto* array = node->as_array();
  if (array == nullptr) {
    reader.type_error("collections", "an array of strings", *node);
    return;
  }
  std::vector<std::string> collections;
  bool ok = true;
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    const std::string element_key = "collections[" + std::to_string(i) + "]";
    const auto* value = element.as_string();
    if (value == nullptr) {
      reader.type_error(element_key, "a string", element);
      ok = false;
      continue;
    }
    const std::string& name = value->get();
    if (std::find(known_collections.begin(), known_collections.end(), name) ==
        known_collections.end()) {
      reader.error(element_key,
                   "must be one of lists, segments, recipients, campaigns, bounces, blocks, "
                   "spam_reports, invalid_emails, global_unsubscribes, unsubscribe_groups, "
                   "group_suppressions, templates, template_versions, senders, verified_senders, "
                   "field_definitions, stats_daily, category_stats_daily, singlesend_stats, "
                   "automation_stats, messages, or \"all\" (got " +
                       shown(name) + ")",
                   &element);
      ok = false;
    } else if (std::find(collections.begin(), collections.end(), name) != collections.end()) {
      reader.error(element_key, "is listed twice (" + shown(name) + ")", &element);
      ok = false;
    } else {
      collections.push_back(name);
    }
  }
  if (ok) out = std::move(collections);
}

void read_event_types(table_reader& reader, std::vector<std::string>& out) {
  constexpr std::string_view key = "webhook_event_types";
  const toml::node* node = reader.find(key);
  if (node == nullptr) return;
  const auto* array = node->as_array();
  if (array == nullptr) {
    reader.type_error(key, "an array of strings", *node);
    return;
  }
  std::string names;
  for (auto name : webhook_event_type_names)
    names += (names.empty() ? "" : ", ") + std::string(name);
  std::vector<std::string> types;
  bool ok = true;
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    const std::string element_key = std::string(key) + "[" + std::to_string(i) + "]";
    const auto* value = element.as_string();
    if (value == nullptr) {
      reader.type_error(element_key, "a string", element);
      ok = false;
      continue;
    }
    const std::string& name = value->get();
    if (std::find(std::begin(webhook_event_type_names), std::end(webhook_event_type_names), name) ==
        std::end(webhook_event_type_names)) {
      reader.error(element_key, "must be one of " + names + " (got " + shown(name) + ")", &element);
      ok = false;
    } else if (std::find(types.begin(), types.end(), name) != types.end()) {
      reader.error(element_key, "is listed twice (" + shown(name) + ")", &element);
      ok = false;
    } else {
      types.push_back(name);
    }
  }
  if (ok && types.empty()) {
    reader.error(key,
                 "must list at least one event type (remove the line for the default: every "
                 "type SendGrid enables by default)",
                 node);
    ok = false;
  }
  if (ok) out = std::move(types);
}

void read_verification_keys(table_reader& reader, std::vector<std::string>& out) {
  constexpr std::string_view key = "webhook_verification_key";
  const toml::node* node = reader.find(key);
  if (node == nullptr) return;
  if (const auto* value = node->as_string()) {
    if (auto bad = verification_key_problem(value->get())) {
      reader.error(key, std::move(*bad), node);
    } else {
      out = {value->get()};
    }
    return;
  }
  const auto* array = node->as_array();
  if (array == nullptr) {
    reader.type_error(key, "a string or an array of strings", *node);
    return;
  }
  if (array->empty()) {
    reader.error(key, "must hold at least one key (remove the line to turn verification off)",
                 node);
    return;
  }
  std::vector<std::string> keys;
  bool ok = true;
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    const std::string element_key = std::string(key) + "[" + std::to_string(i) + "]";
    const auto* value = element.as_string();
    if (value == nullptr) {
      reader.type_error(element_key, "a string", element);
      ok = false;
    } else if (auto bad = verification_key_problem(value->get())) {
      reader.error(element_key, std::move(*bad), &element);
      ok = false;
    } else {
      keys.push_back(value->get());
    }
  }
  if (ok) out = std::move(keys);
}

// The secret's value never appears in a message. OAuth and basic auth both use the
// Authorization header, so a source has one or the other.
void read_oauth(table_reader& reader, source_config& out) {
  if (const auto id = reader.string("webhook_oauth_client_id")) {
    if (id->empty() || std::any_of(id->begin(), id->end(), is_space_or_control)) {
      reader.error("webhook_oauth_client_id",
                   "must be non-empty, without spaces (got " + shown(*id) + ")",
                   reader.find("webhook_oauth_client_id"));
    } else {
      out.webhook_oauth_client_id = *id;
    }
  }
  if (const auto secret = reader.string("webhook_oauth_client_secret")) {
    if (secret->empty()) {
      reader.error("webhook_oauth_client_secret", "must not be empty",
                   reader.find("webhook_oauth_client_secret"));
    } else {
      out.webhook_oauth_client_secret = *secret;
    }
  }
  if (const auto file = reader.string("webhook_oauth_client_secret_file")) {
    if (file->empty()) {
      reader.error("webhook_oauth_client_secret_file", "must not be empty",
                   reader.find("webhook_oauth_client_secret_file"));
    } else {
      out.webhook_oauth_client_secret_file = *file;
    }
  }
  if (const auto ttl = reader.string("webhook_oauth_token_ttl")) {
    if (const auto duration = parse_duration(*ttl)) {
      out.webhook_oauth_token_ttl = *duration;
    } else {
      reader.error("webhook_oauth_token_ttl",
                   "must be a duration greater than zero such as \"1h\" or \"30m\" (got " +
                       shown(*ttl) + ")",
                   reader.find("webhook_oauth_token_ttl"));
    }
  }
  const bool has_id = reader.find("webhook_oauth_client_id") != nullptr;
  const bool has_secret = reader.find("webhook_oauth_client_secret") != nullptr;
  const bool has_file = reader.find("webhook_oauth_client_secret_file") != nullptr;
  if (has_secret && has_file) {
    reader.error("webhook_oauth_client_secret_file",
                 "only one of webhook_oauth_client_secret and webhook_oauth_client_secret_file "
                 "may be set",
                 reader.find("webhook_oauth_client_secret_file"));
  }
  if (has_id && !has_secret && !has_file) {
    reader.error("webhook_oauth_client_secret",
                 "is required with webhook_oauth_client_id (or webhook_oauth_client_secret_file)",
                 reader.find("webhook_oauth_client_id"));
  }
  for (const std::string_view key :
       {"webhook_oauth_client_secret", "webhook_oauth_client_secret_file",
        "webhook_oauth_token_ttl"}) {
    if (!has_id && reader.find(key) != nullptr) {
      reader.error(key, "is only used with webhook_oauth_client_id, which is not set",
                   reader.find(key));
    }
  }
  if (has_id && reader.find("webhook_basic_auth") != nullptr) {
    reader.error("webhook_oauth_client_id",
                 "cannot be combined with webhook_basic_auth: both use the Authorization header",
                 reader.find("webhook_oauth_client_id"));
  }
}

void read_source(table_reader& reader, const toml::table& table, source_config& out) {
  if (const auto name = reader.string("name")) {
    if (!is_source_name(*name)) {
      reader.error(
          "name", "must be lowercase letters, digits and _ ([a-z0-9_]+) (got " + shown(*name) + ")",
          reader.find("name"));
    } else if (name->size() > max_source_name_length) {
      reader.error("name",
                   "must be at most " + std::to_string(max_source_name_length) + " characters",
                   reader.find("name"));
    } else {
      out.name = *name;
    }
  } else if (table.get("name") == nullptr) {
    reader.error("name",
                 "is required: it names the database file and the webhook URL (e.g. name = "
                 "\"marketing\")",
                 &table);
  }

  read_api_key(reader, out.api_key);

  if (const auto base = reader.string("api_base")) {
    if (auto bad = url_problem(*base)) {
      reader.error("api_base", std::move(*bad), reader.find("api_base"));
    } else {
      out.api_base = without_trailing_slashes(*base);
    }
  }
  if (const auto subuser = reader.string("on_behalf_of")) out.on_behalf_of = *subuser;

  if (const auto interval = reader.string("sync_interval")) {
    if (const auto duration = parse_duration(*interval)) {
      out.sync_interval = *duration;
    } else {
      reader.error("sync_interval",
                   "must be a duration greater than zero such as \"3h\", \"90m\", \"1h30m\" or "
                   "\"2d\" (got " +
                       shown(*interval) + ")",
                   reader.find("sync_interval"));
    }
  }

  read_collections(reader, out.collections);
  if (const auto interval = reader.string("suppression_reconcile_interval")) {
    if (const auto duration = parse_duration(*interval)) {
      out.suppression_reconcile_interval = *duration;
    } else {
      reader.error("suppression_reconcile_interval",
                   "must be a duration greater than zero such as \"1d\" or \"12h\" (got " +
                       shown(*interval) + ")",
                   reader.find("suppression_reconcile_interval"));
    }
  }
  reader.integer_in("stats_trailing_days", out.stats_trailing_days, 1, 366);
  reader.integer_in("stats_backfill_days", out.stats_backfill_days, 1, 3660);
  read_verification_keys(reader, out.webhook_verification_keys);
  read_event_types(reader, out.webhook_event_types);

  if (const auto auth = reader.string("webhook_basic_auth")) {
    // Not echoed: the password is a secret.
    const auto colon = auth->find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == auth->size()) {
      reader.error("webhook_basic_auth", "must be \"user:password\" with both parts non-empty",
                   reader.find("webhook_basic_auth"));
    } else {
      out.webhook_basic_auth = *auth;
    }
  }

  read_oauth(reader, out);

  std::int64_t max_age = 0;
  if (reader.find("webhook_max_age_seconds") != nullptr) {
    reader.integer_in("webhook_max_age_seconds", max_age, 1, int64_max);
    if (max_age > 0) out.webhook_max_age_seconds = max_age;
  }

  if (const auto display = reader.string("display_name")) out.display_name = *display;

  std::int64_t group = 0;
  if (reader.find("unsubscribe_group_id") != nullptr) {
    reader.integer_in("unsubscribe_group_id", group, 1, int64_max);
    if (group > 0) out.unsubscribe_group_id = group;
  }

  if (const auto email = reader.string("from_email")) {
    const auto at = email->find('@');
    const bool plausible = at != std::string::npos && at > 0 && at + 1 < email->size() &&
                           std::none_of(email->begin(), email->end(), is_space_or_control);
    if (!plausible) {
      reader.error(
          "from_email",
          "must be an email address such as \"news@example.com\" (got " + shown(*email) + ")",
          reader.find("from_email"));
    } else {
      out.from_email = *email;
    }
  }
  if (const auto from = reader.string("from_name")) out.from_name = *from;
  if (const auto subject = reader.string("default_subject")) out.default_subject = *subject;
}

void read_sources(table_reader& top, std::vector<source_config>& out, error_list& errors) {
  const toml::node* node = top.find("source");
  const std::string required = "at least one [[source]] is required";
  if (node == nullptr) {
    errors.push_back({"source", required, std::nullopt});
    return;
  }
  const auto* array = node->as_array();
  if (array == nullptr) {
    top.type_error("source", "an array of tables, written [[source]]", *node);
    return;
  }
  if (array->empty()) {
    errors.push_back({"source", required, line_of(node)});
    return;
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    const std::string path = "source[" + std::to_string(i) + "]";
    const auto* table = element.as_table();
    if (table == nullptr) {
      errors.push_back({path,
                        "must be a table (got " + std::string(type_name(element.type())) + ")",
                        line_of(&element)});
      continue;
    }
    source_config source;
    table_reader reader(*table, path, errors);
    read_source(reader, *table, source);
    reader.finish();
    out.push_back(std::move(source));
  }
  // Names pick the database file and the URL, so two sources must never share one.
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i].name.empty()) continue;
    for (std::size_t j = 0; j < i; ++j) {
      if (out[j].name != out[i].name) continue;
      const toml::node* name = array->get(i)->as_table()->get("name");
      errors.push_back(
          {"source[" + std::to_string(i) + "].name",
           "duplicate name " + shown(out[i].name) + " (also source[" + std::to_string(j) + "])",
           line_of(name)});
      break;
    }
  }
}

}  // namespace

std::vector<std::string> default_webhook_event_types() {
  std::vector<std::string> out;
  for (auto name : webhook_event_type_names) {
    if (name != "account_status_change") out.emplace_back(name);
  }
  return out;
}

config default_config() {
  config result;
  result.storage.dir = "./data";
  source_config source;
  source.name = "default";
  result.sources.push_back(std::move(source));
  return result;
}

std::string_view default_config_toml() {
  // Kept equal to default_config() by a unit test.
  static constexpr std::string_view text =
      R"(# sendgrid-source built-in defaults (used when no config file is found).
# See config.toml.example for what every key does.

[server]
listen = "127.0.0.1:8080"
max_body_bytes = 8388608
header_timeout_seconds = 10
body_timeout_seconds = 30
idle_timeout_seconds = 60
max_connections = 512
max_events_per_request = 50000
tls_handshake_timeout_seconds = 10

[storage]
backend = "sqlite"
dir = "./data"
synchronous = "full"
dedup_window_hours = 72
busy_timeout_ms = 5000

[log]
level = "info"
format = "text"

[[source]]
name = "default"
api_base = "https://api.sendgrid.com"
sync_interval = "3h"
collections = ["all"]
webhook_event_types = ["processed", "dropped", "delivered", "deferred", "bounce", "open", "click", "spam_report", "unsubscribe", "group_unsubscribe", "group_resubscribe"]
suppression_reconcile_interval = "1d"
stats_trailing_days = 3
stats_backfill_days = 365
)";
  return text;
}

std::variant<config, std::vector<config_error>> parse_config(std::string_view toml_text,
                                                             std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    return error_list{{"", std::string(e.description()), line_of(e.source())}};
  }

  config result;
  error_list errors;
  table_reader top(root, "", errors);
  if (const auto* table = top.table("server")) {
    table_reader reader(*table, "server", errors);
    read_server(reader, result.server);
    reader.finish();
  }
  if (const auto* table = top.table("storage")) {
    table_reader reader(*table, "storage", errors);
    read_storage(reader, result.storage);
    reader.finish();
  }
  if (const auto* table = top.table("log")) {
    table_reader reader(*table, "log", errors);
    read_log(reader, result.log);
    reader.finish();
  }
  read_sources(top, result.sources, errors);
  top.finish();

  if (errors.empty()) return result;
  // In file order, so the list reads like the file; errors without a line go last.
  std::stable_sort(errors.begin(), errors.end(), [](const config_error& a, const config_error& b) {
    return a.line.value_or(std::numeric_limits<std::uint32_t>::max()) <
           b.line.value_or(std::numeric_limits<std::uint32_t>::max());
  });
  return errors;
}

std::string format_errors(const std::vector<config_error>& errors, std::string_view origin) {
  std::string out;
  for (const auto& error : errors) {
    out += origin;
    if (error.line) out += ":" + std::to_string(*error.line);
    out += ": ";
    if (!error.key_path.empty()) out += error.key_path + ": ";
    out += error.message;
    out += '\n';
  }
  return out;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  struct unit {
    char suffix;
    std::int64_t seconds;
  };
  // Largest first: units must appear in this order, each at most once, so "1h30m" is
  // accepted and typos such as "30m1h" or "1m1m" are not.
  constexpr std::array<unit, 4> units = {{{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}};
  const std::int64_t limit = max_duration.count();

  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t next_unit = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t number = 0;
    const std::size_t start = i;
    for (; i < text.size() && is_digit(text[i]); ++i) {
      number = number * 10 + (text[i] - '0');
      if (number > limit) return std::nullopt;
    }
    if (i == start || i == text.size()) return std::nullopt;
    const char suffix = text[i++];
    while (next_unit < units.size() && units[next_unit].suffix != suffix) ++next_unit;
    if (next_unit == units.size()) return std::nullopt;
    const std::int64_t factor = units[next_unit++].seconds;
    if (number > (limit - total) / factor) return std::nullopt;
    total += number * factor;
  }
  if (total == 0) return std::nullopt;
  return std::chrono::seconds(total);
}

std::filesystem::path source_database_file(const storage_config& storage, std::string_view source) {
  return storage.dir / (std::string(source) + ".db");
}

}  // namespace sgs::config
