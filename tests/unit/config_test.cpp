// Unit tests for lib/config: defaults, parsing, every validation rule, durations, API keys.
#include "config/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "config/secrets.hpp"

namespace sgs::config {
namespace {

using namespace std::chrono_literals;

// A real P-256 public key in SendGrid's format (base64 DER), generated for these tests.
constexpr std::string_view test_key =
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEyZD6Fl55NV+/h7oCSP6ndKiIOB1OCKPiC0+swA/60kbwfDetpdLjdh4jP"
    "FeAN4+8KB6u64R9IVmj5BDlfbtHoA==";

config parse_ok(std::string_view text) {
  auto result = parse_config(text, "test.toml");
  if (auto* errors = std::get_if<std::vector<config_error>>(&result)) {
    ADD_FAILURE() << "unexpected errors:\n" << format_errors(*errors, "test.toml");
    return {};
  }
  return std::get<config>(std::move(result));
}

std::vector<config_error> parse_errors(std::string_view text) {
  auto result = parse_config(text, "test.toml");
  if (auto* errors = std::get_if<std::vector<config_error>>(&result)) return *errors;
  ADD_FAILURE() << "the config was accepted but errors were expected";
  return {};
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// ---------------------------------------------------------------------------------------
// Defaults

TEST(ConfigDefaults, DefaultConfigListensOnLoopbackStoresInDataDirWithOneKeylessSource) {
  const config c = default_config();
  EXPECT_EQ(c.server.listen_host, "127.0.0.1");
  EXPECT_EQ(c.server.listen_port, 8080);
  EXPECT_EQ(c.storage.dir, std::filesystem::path("./data"));
  ASSERT_EQ(c.sources.size(), 1u);
  EXPECT_EQ(c.sources[0].name, "default");
  EXPECT_TRUE(c.sources[0].api_key.empty());
  EXPECT_EQ(c.sources[0].sync_interval, 3h);
  EXPECT_TRUE(c.sources[0].webhook_verification_keys.empty());
}

TEST(ConfigDefaults, DefaultConfigTomlParsesToExactlyDefaultConfig) {
  EXPECT_EQ(parse_ok(default_config_toml()), default_config());
}

TEST(ConfigDefaults, OmittedKeysTakeTheStructDefaults) {
  const config c = parse_ok("[[source]]\nname = \"a\"\n");
  config expected;
  expected.sources.push_back(source_config{});
  expected.sources[0].name = "a";
  EXPECT_EQ(c, expected);
  EXPECT_EQ(c.storage.dir, std::filesystem::path("/var/lib/sendgrid-source"));
  EXPECT_EQ(c.server.max_body_bytes, 8u * 1024 * 1024);
  EXPECT_EQ(c.storage.dedup_window_hours, 72u);
}

// ---------------------------------------------------------------------------------------
// Valid files

TEST(ConfigParse, FullValidFileSetsEveryField) {
  const std::string text = R"(
[server]
listen = "0.0.0.0:9000"
public_url = "https://events.example.com"
max_body_bytes = 1048576
header_timeout_seconds = 5
body_timeout_seconds = 20
idle_timeout_seconds = 90
max_connections = 64
tls_cert_file = "/etc/ssl/events.pem"
tls_key_file = "/etc/ssl/events.key"
tls_handshake_timeout_seconds = 7

[storage]
dir = "/srv/sg"
synchronous = "normal"
dedup_window_hours = 48
busy_timeout_ms = 250

[log]
level = "debug"
format = "json"

[[source]]
name = "marketing"
api_key_file = "marketing.key"
api_base = "https://api.eu.sendgrid.com"
on_behalf_of = "sub1"
sync_interval = "1h30m"
collections = ["campaigns", "lists"]
webhook_verification_key = ")" +
                           std::string(test_key) + R"("
webhook_basic_auth = "hook:s3cret"
webhook_max_age_seconds = 600
display_name = "Marketing"
unsubscribe_group_id = 12345
from_email = "news@example.com"
from_name = "Example"
default_subject = "News"

[[source]]
name = "transactional_2"
api_key_env = "SG_TX_KEY"

[[source]]
name = "inline"
api_key = "SG.inline.key"
)";
  const config c = parse_ok(text);
  EXPECT_EQ(c.server.listen_host, "0.0.0.0");
  EXPECT_EQ(c.server.listen_port, 9000);
  EXPECT_EQ(c.server.public_url, "https://events.example.com");
  EXPECT_EQ(c.server.max_body_bytes, 1048576u);
  EXPECT_EQ(c.server.header_timeout, 5s);
  EXPECT_EQ(c.server.body_timeout, 20s);
  EXPECT_EQ(c.server.idle_timeout, 90s);
  EXPECT_EQ(c.server.max_connections, 64u);
  EXPECT_EQ(c.server.tls_cert_file, "/etc/ssl/events.pem");
  EXPECT_EQ(c.server.tls_key_file, "/etc/ssl/events.key");
  EXPECT_EQ(c.server.tls_handshake_timeout, 7s);
  EXPECT_EQ(c.storage.dir, std::filesystem::path("/srv/sg"));
  EXPECT_EQ(c.storage.synchronous, synchronous_mode::normal);
  EXPECT_EQ(c.storage.dedup_window_hours, 48u);
  EXPECT_EQ(c.storage.busy_timeout, 250ms);
  EXPECT_EQ(c.log.level, "debug");
  EXPECT_EQ(c.log.format, log_format::json);
  ASSERT_EQ(c.sources.size(), 3u);

  const source_config& s = c.sources[0];
  EXPECT_EQ(s.name, "marketing");
  EXPECT_EQ(s.api_key.file, std::filesystem::path("marketing.key"));
  EXPECT_FALSE(s.api_key.inline_key);
  EXPECT_FALSE(s.api_key.env);
  EXPECT_EQ(s.api_base, "https://api.eu.sendgrid.com");
  EXPECT_EQ(s.on_behalf_of, "sub1");
  EXPECT_EQ(s.sync_interval, 90min);
  EXPECT_EQ(s.collections, (std::vector<std::string>{"campaigns", "lists"}));
  EXPECT_EQ(s.webhook_verification_keys, (std::vector<std::string>{std::string(test_key)}));
  EXPECT_EQ(s.webhook_basic_auth, "hook:s3cret");
  EXPECT_EQ(s.webhook_max_age_seconds, 600);
  EXPECT_EQ(s.display_name, "Marketing");
  EXPECT_EQ(s.unsubscribe_group_id, 12345);
  EXPECT_EQ(s.from_email, "news@example.com");
  EXPECT_EQ(s.from_name, "Example");
  EXPECT_EQ(s.default_subject, "News");

  EXPECT_EQ(c.sources[1].api_key.env, "SG_TX_KEY");
  EXPECT_EQ(c.sources[2].api_key.inline_key, "SG.inline.key");
}

TEST(ConfigParse, ListenAcceptsBracketedIpv6HostNamesAndPortZero) {
  auto c = parse_ok("[server]\nlisten = \"[::1]:0\"\n[[source]]\nname = \"a\"\n");
  EXPECT_EQ(c.server.listen_host, "::1");
  EXPECT_EQ(c.server.listen_port, 0);
  c = parse_ok("[server]\nlisten = \"[::]:65535\"\n[[source]]\nname = \"a\"\n");
  EXPECT_EQ(c.server.listen_host, "::");
  EXPECT_EQ(c.server.listen_port, 65535);
  c = parse_ok("[server]\nlisten = \"localhost:8081\"\n[[source]]\nname = \"a\"\n");
  EXPECT_EQ(c.server.listen_host, "localhost");
  EXPECT_EQ(c.server.listen_port, 8081);
}

TEST(ConfigParse, AdminListenMovesHealthzAndMetricsOffThePublicListener) {
  auto c = parse_ok("[[source]]\nname = \"a\"\n");
  EXPECT_EQ(c.server.admin_listen_host, "") << "unset by default";
  c = parse_ok("[server]\nadmin_listen = \"127.0.0.1:9090\"\n[[source]]\nname = \"a\"\n");
  EXPECT_EQ(c.server.admin_listen_host, "127.0.0.1");
  EXPECT_EQ(c.server.admin_listen_port, 9090);
  auto errors = parse_errors(
      "[server]\nlisten = \"127.0.0.1:8080\"\nadmin_listen = \"127.0.0.1:8080\"\n"
      "[[source]]\nname = \"a\"\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key_path, "server.admin_listen");
  EXPECT_EQ(errors[0].message, "must differ from server.listen");
  errors = parse_errors("[server]\nadmin_listen = \"9090\"\n[[source]]\nname = \"a\"\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key_path, "server.admin_listen");
}

TEST(ConfigParse, VerificationKeyIsAcceptedAsStringOrList) {
  const std::string other = "QUJDRA==";
  auto c = parse_ok("[[source]]\nname = \"a\"\nwebhook_verification_key = \"" +
                    std::string(test_key) + "\"\n");
  EXPECT_EQ(c.sources[0].webhook_verification_keys,
            (std::vector<std::string>{std::string(test_key)}));
  c = parse_ok("[[source]]\nname = \"a\"\nwebhook_verification_key = [\"" + std::string(test_key) +
               "\", \"" + other + "\"]\n");
  EXPECT_EQ(c.sources[0].webhook_verification_keys,
            (std::vector<std::string>{std::string(test_key), other}));
}

TEST(ConfigParse, TrailingSlashesAreRemovedFromUrlsSoPathsCanBeAppended) {
  const auto c = parse_ok(
      "[server]\npublic_url = \"https://events.example.com/sg/\"\n"
      "[[source]]\nname = \"a\"\napi_base = \"http://127.0.0.1:4010/\"\n");
  EXPECT_EQ(c.server.public_url, "https://events.example.com/sg");
  EXPECT_EQ(c.sources[0].api_base, "http://127.0.0.1:4010");
}

TEST(ConfigParse, EmptyCollectionsListIsAllowedForWebhookOnlySources) {
  const auto c = parse_ok("[[source]]\nname = \"a\"\ncollections = []\n");
  EXPECT_TRUE(c.sources[0].collections.empty());
}

// ---------------------------------------------------------------------------------------
// Every validation rule: one bad value in an otherwise valid file gives exactly one error,
// with the key path and the line of the bad value.

struct rule_case {
  std::string name;
  std::string toml;  // the bad value is always on line 2
  std::string key_path;
  std::string message_part;
};

void PrintTo(const rule_case& c, std::ostream* out) { *out << c.name; }

std::string in_server(std::string_view line) {
  return "[server]\n" + std::string(line) + "\n[[source]]\nname = \"a\"\n";
}
std::string in_storage(std::string_view line) {
  return "[storage]\n" + std::string(line) + "\n[[source]]\nname = \"a\"\n";
}
std::string in_log(std::string_view line) {
  return "[log]\n" + std::string(line) + "\n[[source]]\nname = \"a\"\n";
}
std::string in_source(std::string_view line) {
  return "[[source]]\n" + std::string(line) + "\nname = \"a\"\n";
}

const std::vector<rule_case> rule_cases = {
    {"listen_without_port", in_server("listen = \"127.0.0.1\""), "server.listen", "HOST:PORT"},
    {"listen_port_too_big", in_server("listen = \"127.0.0.1:65536\""), "server.listen",
     "port must be a number from 0 to 65535"},
    {"listen_port_not_number", in_server("listen = \"127.0.0.1:http\""), "server.listen",
     "port must be a number"},
    {"listen_ipv6_without_brackets", in_server("listen = \"::1:8080\""), "server.listen",
     "must be in brackets"},
    {"listen_empty_host", in_server("listen = \":8080\""), "server.listen", "host is missing"},
    {"listen_brackets_without_ipv6", in_server("listen = \"[localhost]:8080\""), "server.listen",
     "IPv6"},
    {"listen_not_string", in_server("listen = 8080"), "server.listen",
     "must be a string (got integer)"},
    {"public_url_not_http", in_server("public_url = \"ftp://x\""), "server.public_url",
     "http:// or https://"},
    {"public_url_without_host", in_server("public_url = \"https:///x\""), "server.public_url",
     "host"},
    {"public_url_with_query", in_server("public_url = \"https://x/?a=1\""), "server.public_url",
     "query"},
    {"max_body_bytes_zero", in_server("max_body_bytes = 0"), "server.max_body_bytes",
     "must be greater than 0 (got 0)"},
    {"max_body_bytes_float", in_server("max_body_bytes = 1.5"), "server.max_body_bytes",
     "must be an integer (got float)"},
    {"header_timeout_negative", in_server("header_timeout_seconds = -1"),
     "server.header_timeout_seconds", "greater than 0"},
    {"body_timeout_zero", in_server("body_timeout_seconds = 0"), "server.body_timeout_seconds",
     "greater than 0"},
    {"idle_timeout_string", in_server("idle_timeout_seconds = \"60\""),
     "server.idle_timeout_seconds", "must be an integer (got string)"},
    {"max_connections_zero", in_server("max_connections = 0"), "server.max_connections",
     "from 1 to 4294967295"},
    {"max_connections_too_big", in_server("max_connections = 4294967296"), "server.max_connections",
     "from 1 to 4294967295"},
    {"max_events_per_request_zero", in_server("max_events_per_request = 0"),
     "server.max_events_per_request", "from 1 to 4294967295"},
    {"tls_cert_without_key", in_server("tls_cert_file = \"/etc/ssl/cert.pem\""),
     "server.tls_key_file", "is required when tls_cert_file is set"},
    {"tls_key_without_cert", in_server("tls_key_file = \"/etc/ssl/key.pem\""),
     "server.tls_cert_file", "is required when tls_key_file is set"},
    {"tls_handshake_timeout_zero", in_server("tls_handshake_timeout_seconds = 0"),
     "server.tls_handshake_timeout_seconds", "greater than 0"},
    {"storage_dir_empty", in_storage("dir = \"\""), "storage.dir", "must not be empty"},
    {"backend_unknown", in_storage("backend = \"mysql\""), "storage.backend",
     "\"sqlite\" or \"postgresql\" (got \"mysql\")"},
    {"postgresql_without_url", in_storage("backend = \"postgresql\""), "storage.url",
     "is required with backend = \"postgresql\""},
    {"url_not_a_uri", in_storage("url = \"host=db password=secret\""), "storage.url",
     "must be a libpq URI"},
    {"url_with_sqlite", in_storage("url = \"postgresql://db/x\""), "storage.url",
     "only applies with backend = \"postgresql\""},
    {"synchronous_unknown", in_storage("synchronous = \"off\""), "storage.synchronous",
     "\"full\" or \"normal\" (got \"off\")"},
    {"dedup_window_zero", in_storage("dedup_window_hours = 0"), "storage.dedup_window_hours",
     "from 1 to"},
    {"busy_timeout_negative", in_storage("busy_timeout_ms = -5"), "storage.busy_timeout_ms",
     "from 0 to 2147483647"},
    {"log_level_unknown", in_log("level = \"verbose\""), "log.level",
     "trace, debug, info, warn, error"},
    {"log_format_unknown", in_log("format = \"xml\""), "log.format", "\"text\" or \"json\""},
    {"name_with_uppercase", "[[source]]\nname = \"Bad Name\"\n", "source[0].name", "[a-z0-9_]+"},
    {"name_empty", "[[source]]\nname = \"\"\n", "source[0].name", "[a-z0-9_]+"},
    {"name_too_long", "[[source]]\nname = \"" + std::string(65, 'a') + "\"\n", "source[0].name",
     "at most 64"},
    {"name_not_string", "[[source]]\nname = 7\n", "source[0].name",
     "must be a string (got integer)"},
    {"two_api_key_kinds", "[[source]]\napi_key_env = \"X\"\napi_key = \"SG.x\"\nname = \"a\"\n",
     "source[0].api_key_env", "only one of api_key, api_key_file and api_key_env"},
    {"api_key_empty", in_source("api_key = \"\""), "source[0].api_key", "must not be empty"},
    {"oauth_secret_without_id", in_source("webhook_oauth_client_secret = \"s3\""),
     "source[0].webhook_oauth_client_secret", "only used with webhook_oauth_client_id"},
    {"oauth_id_without_secret", in_source("webhook_oauth_client_id = \"abc\""),
     "source[0].webhook_oauth_client_secret", "is required with webhook_oauth_client_id"},
    {"oauth_id_with_space",
     in_source("webhook_oauth_client_id = \"a b\"\nwebhook_oauth_client_secret = \"s\""),
     "source[0].webhook_oauth_client_id", "without spaces"},
    {"oauth_ttl_not_duration",
     in_source("webhook_oauth_token_ttl = \"soon\"\nwebhook_oauth_client_id = \"a\"\n"
               "webhook_oauth_client_secret = \"b\""),
     "source[0].webhook_oauth_token_ttl", "duration"},
    {"oauth_secret_and_file",
     in_source("webhook_oauth_client_secret_file = \"/f\"\nwebhook_oauth_client_id = \"a\"\n"
               "webhook_oauth_client_secret = \"b\""),
     "source[0].webhook_oauth_client_secret_file", "only one of"},
    {"oauth_with_basic_auth",
     in_source("webhook_oauth_client_id = \"a\"\nwebhook_oauth_client_secret = \"b\"\n"
               "webhook_basic_auth = \"u:p\""),
     "source[0].webhook_oauth_client_id", "both use the Authorization header"},
    {"api_key_file_empty", in_source("api_key_file = \"\""), "source[0].api_key_file",
     "must not be empty"},
    {"api_key_env_bad_name", in_source("api_key_env = \"1-X\""), "source[0].api_key_env",
     "environment variable name"},
    {"api_base_not_url", in_source("api_base = \"api.sendgrid.com\""), "source[0].api_base",
     "http:// or https://"},
    {"sync_interval_malformed", in_source("sync_interval = \"3 hours\""), "source[0].sync_interval",
     "duration"},
    {"sync_interval_zero", in_source("sync_interval = \"0s\""), "source[0].sync_interval",
     "greater than zero"},
    {"sync_interval_integer", in_source("sync_interval = 3"), "source[0].sync_interval",
     "must be a string (got integer)"},
    {"collections_not_array", in_source("collections = \"lists\""), "source[0].collections",
     "must be an array of strings (got string)"},
    {"verification_key_not_base64", in_source("webhook_verification_key = \"MFkw...\""),
     "source[0].webhook_verification_key", "base64"},
    {"verification_key_pem", in_source("webhook_verification_key = \"-----BEGIN PUBLIC KEY-----\""),
     "source[0].webhook_verification_key", "without the -----BEGIN"},
    {"verification_key_empty", in_source("webhook_verification_key = \"\""),
     "source[0].webhook_verification_key", "must not be empty"},
    {"verification_key_empty_list", in_source("webhook_verification_key = []"),
     "source[0].webhook_verification_key", "at least one key"},
    {"verification_key_integer", in_source("webhook_verification_key = 5"),
     "source[0].webhook_verification_key", "a string or an array of strings (got integer)"},
    {"basic_auth_without_colon", in_source("webhook_basic_auth = \"user\""),
     "source[0].webhook_basic_auth", "\"user:password\""},
    {"basic_auth_empty_password", in_source("webhook_basic_auth = \"user:\""),
     "source[0].webhook_basic_auth", "both parts non-empty"},
    {"basic_auth_empty_user", in_source("webhook_basic_auth = \":pw\""),
     "source[0].webhook_basic_auth", "both parts non-empty"},
    {"max_age_zero", in_source("webhook_max_age_seconds = 0"), "source[0].webhook_max_age_seconds",
     "greater than 0"},
    {"unsubscribe_group_negative", in_source("unsubscribe_group_id = -3"),
     "source[0].unsubscribe_group_id", "greater than 0 (got -3)"},
    {"unsubscribe_group_string", in_source("unsubscribe_group_id = \"12\""),
     "source[0].unsubscribe_group_id", "must be an integer (got string)"},
    {"from_email_without_at", in_source("from_email = \"news.example.com\""),
     "source[0].from_email", "email address"},
    {"from_name_not_string", in_source("from_name = true"), "source[0].from_name",
     "must be a string (got boolean)"},
    {"display_name_not_string", in_source("display_name = 1979-05-27"), "source[0].display_name",
     "must be a string (got date)"},
};

class ConfigRejects : public ::testing::TestWithParam<rule_case> {};

TEST_P(ConfigRejects, BadValueWithItsKeyPathAndLine) {
  const rule_case& c = GetParam();
  const auto errors = parse_errors(c.toml);
  ASSERT_EQ(errors.size(), 1u) << format_errors(errors, "test.toml");
  EXPECT_EQ(errors[0].key_path, c.key_path);
  EXPECT_NE(errors[0].message.find(c.message_part), std::string::npos) << errors[0].message;
  EXPECT_EQ(errors[0].line, 2u);
}

INSTANTIATE_TEST_SUITE_P(Config, ConfigRejects, ::testing::ValuesIn(rule_cases),
                         [](const auto& info) { return info.param.name; });

TEST(ConfigValidation, CollectionsElementsAreCheckedOneByOneWithTheirIndex) {
  const auto errors = parse_errors(
      "[[source]]\nname = \"a\"\ncollections = [\n  \"lists\",\n  \"contacts\",\n  \"lists\",\n"
      "  3,\n]\n");
  ASSERT_EQ(errors.size(), 3u) << format_errors(errors, "test.toml");
  EXPECT_EQ(errors[0].key_path, "source[0].collections[1]");
  EXPECT_NE(errors[0].message.find("must be one of lists, segments, recipients, campaigns"),
            std::string::npos);
  EXPECT_EQ(errors[0].line, 5u);
  EXPECT_EQ(errors[1].key_path, "source[0].collections[2]");
  EXPECT_NE(errors[1].message.find("listed twice"), std::string::npos);
  EXPECT_EQ(errors[1].line, 6u);
  EXPECT_EQ(errors[2].key_path, "source[0].collections[3]");
  EXPECT_EQ(errors[2].message, "must be a string (got integer)");
  EXPECT_EQ(errors[2].line, 7u);
}

TEST(ConfigParse, WebhookEventTypesDefaultToWhatSendGridEnablesByDefault) {
  const config c = parse_ok("[[source]]\nname = \"a\"\n");
  const auto& types = c.sources[0].webhook_event_types;
  EXPECT_EQ(types.size(), 11u);
  EXPECT_EQ(std::find(types.begin(), types.end(), "account_status_change"), types.end());
  EXPECT_NE(std::find(types.begin(), types.end(), "open"), types.end());
  const config d = parse_ok(
      "[[source]]\nname = \"a\"\nwebhook_event_types = [\"delivered\", "
      "\"account_status_change\"]\n");
  EXPECT_EQ(d.sources[0].webhook_event_types,
            (std::vector<std::string>{"delivered", "account_status_change"}));
}

TEST(ConfigValidation, WebhookEventTypesAreCheckedOneByOneAndMayNotBeEmpty) {
  const auto errors = parse_errors(
      "[[source]]\nname = \"a\"\nwebhook_event_types = [\"open\", \"opened\", \"open\"]\n"
      "[[source]]\nname = \"b\"\nwebhook_event_types = []\n");
  ASSERT_EQ(errors.size(), 3u) << format_errors(errors, "test.toml");
  EXPECT_EQ(errors[0].key_path, "source[0].webhook_event_types[1]");
  EXPECT_NE(errors[0].message.find("must be one of processed, dropped"), std::string::npos)
      << errors[0].message;
  EXPECT_NE(errors[0].message.find("account_status_change"), std::string::npos);
  EXPECT_EQ(errors[1].key_path, "source[0].webhook_event_types[2]");
  EXPECT_NE(errors[1].message.find("listed twice"), std::string::npos);
  EXPECT_EQ(errors[2].key_path, "source[1].webhook_event_types");
  EXPECT_NE(errors[2].message.find("at least one"), std::string::npos);
}

TEST(ConfigValidation, VerificationKeyListElementsAreCheckedWithTheirIndex) {
  const auto errors = parse_errors("[[source]]\nname = \"a\"\nwebhook_verification_key = [\"" +
                                   std::string(test_key) + "\", \"not base64!\"]\n");
  ASSERT_EQ(errors.size(), 1u) << format_errors(errors, "test.toml");
  EXPECT_EQ(errors[0].key_path, "source[0].webhook_verification_key[1]");
  EXPECT_NE(errors[0].message.find("base64"), std::string::npos);
  EXPECT_EQ(errors[0].line, 3u);
}

TEST(ConfigValidation, MissingSourceNameIsReportedAtTheSourceTable) {
  const auto errors =
      parse_errors("[[source]]\nname = \"a\"\n\n[[source]]\nsync_interval = \"1h\"\n");
  ASSERT_EQ(errors.size(), 1u) << format_errors(errors, "test.toml");
  EXPECT_EQ(errors[0].key_path, "source[1].name");
  EXPECT_NE(errors[0].message.find("is required"), std::string::npos);
  EXPECT_EQ(errors[0].line, 4u);
}

TEST(ConfigValidation, DuplicateSourceNamesAreRefusedBecauseTheyShareAFile) {
  const auto errors = parse_errors(
      "[[source]]\nname = \"a\"\n[[source]]\nname = \"b\"\n[[source]]\nname = \"a\"\n");
  ASSERT_EQ(errors.size(), 1u) << format_errors(errors, "test.toml");
  EXPECT_EQ(errors[0].key_path, "source[2].name");
  EXPECT_NE(errors[0].message.find("duplicate name \"a\" (also source[0])"), std::string::npos);
  EXPECT_EQ(errors[0].line, 6u);
}

TEST(ConfigValidation, ZeroSourcesIsAnError) {
  for (const std::string text : {"[server]\nlisten = \"127.0.0.1:1\"\n", "source = []\n", ""}) {
    const auto errors = parse_errors(text);
    ASSERT_EQ(errors.size(), 1u) << format_errors(errors, "test.toml");
    EXPECT_EQ(errors[0].key_path, "source");
    EXPECT_EQ(errors[0].message, "at least one [[source]] is required");
  }
}

TEST(ConfigValidation, SectionsOfTheWrongShapeAreTypeErrors) {
  auto errors = parse_errors("server = 1\n[[source]]\nname = \"a\"\n");
  ASSERT_EQ(errors.size(), 1u) << format_errors(errors, "test.toml");
  EXPECT_EQ(errors[0].key_path, "server");
  EXPECT_EQ(errors[0].message, "must be a table ([server]) (got integer)");
  EXPECT_EQ(errors[0].line, 1u);

  errors = parse_errors("[source]\nname = \"a\"\n");
  ASSERT_EQ(errors.size(), 1u) << format_errors(errors, "test.toml");
  EXPECT_EQ(errors[0].key_path, "source");
  EXPECT_NE(errors[0].message.find("[[source]]"), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Error reporting

TEST(ConfigErrors, AllProblemsAreReportedAtOnceInFileOrder) {
  const auto errors = parse_errors(R"([server]
listen = "nope"
max_body_bytes = -1
[log]
level = "loud"
[[source]]
name = "Bad"
sync_interval = "soon"
[[source]]
name = "ok"
from_email = "x"
)");
  ASSERT_EQ(errors.size(), 6u) << format_errors(errors, "test.toml");
  const std::vector<std::pair<std::string, std::uint32_t>> expected = {
      {"server.listen", 2},  {"server.max_body_bytes", 3},   {"log.level", 5},
      {"source[0].name", 7}, {"source[0].sync_interval", 8}, {"source[1].from_email", 11},
  };
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(errors[i].key_path, expected[i].first);
    EXPECT_EQ(errors[i].line, expected[i].second);
  }
}

TEST(ConfigErrors, UnknownKeySuggestsTheClosestKnownKey) {
  const auto errors = parse_errors("[[source]]\nname = \"a\"\nsync_intervall = \"3h\"\n");
  ASSERT_EQ(errors.size(), 1u) << format_errors(errors, "test.toml");
  EXPECT_EQ(errors[0].key_path, "source[0].sync_intervall");
  EXPECT_EQ(errors[0].message, "unknown key; did you mean `sync_interval`?");
  EXPECT_EQ(errors[0].line, 3u);
}

TEST(ConfigErrors, UnknownKeysAreReportedEverywhere) {
  const auto errors = parse_errors(R"([server]
Listen = "127.0.0.1:1"
[storage]
synchronus = "full"
[log]
colour = true
[tls]
cert = "x"
[[source]]
name = "a"
)");
  ASSERT_EQ(errors.size(), 4u) << format_errors(errors, "test.toml");
  EXPECT_EQ(errors[0].key_path, "server.Listen");
  EXPECT_EQ(errors[0].message, "unknown key; did you mean `listen`?");
  EXPECT_EQ(errors[0].line, 2u);
  EXPECT_EQ(errors[1].key_path, "storage.synchronus");
  EXPECT_EQ(errors[1].message, "unknown key; did you mean `synchronous`?");
  EXPECT_EQ(errors[2].key_path, "log.colour");
  EXPECT_EQ(errors[2].message, "unknown key");
  EXPECT_EQ(errors[3].key_path, "tls");
  EXPECT_EQ(errors[3].message, "unknown key");
  EXPECT_EQ(errors[3].line, 7u);
}

TEST(ConfigErrors, KeyWithoutItsUnitSuffixSuggestsTheFullName) {
  const auto errors = parse_errors(
      "[server]\nheader_timeout = 5\n[storage]\nbusy_timeout = 5\n[[source]]\nname = \"a\"\n");
  ASSERT_EQ(errors.size(), 2u) << format_errors(errors, "test.toml");
  EXPECT_EQ(errors[0].message, "unknown key; did you mean `header_timeout_seconds`?");
  EXPECT_EQ(errors[1].message, "unknown key; did you mean `busy_timeout_ms`?");
}

TEST(ConfigErrors, PluralSourcesTableSuggestsSource) {
  const auto errors = parse_errors("[[source]]\nname = \"a\"\n[[sources]]\nname = \"b\"\n");
  ASSERT_EQ(errors.size(), 1u) << format_errors(errors, "test.toml");
  EXPECT_EQ(errors[0].key_path, "sources");
  EXPECT_EQ(errors[0].message, "unknown key; did you mean `source`?");
}

TEST(ConfigErrors, SyntaxErrorGivesOneErrorWithTheParserMessageAndLine) {
  const auto errors = parse_errors("[server]\nlisten = \"127.0.0.1:8080\"\nmax_body_bytes = = 3\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key_path, "");
  EXPECT_FALSE(errors[0].message.empty());
  EXPECT_EQ(errors[0].line, 3u);
  const std::string formatted = format_errors(errors, "test.toml");
  EXPECT_EQ(formatted.rfind("test.toml:3: ", 0), 0u) << formatted;
}

TEST(ConfigErrors, FormatErrorsPrintsOriginLineKeyPathAndMessageOnePerLine) {
  const std::vector<config_error> errors = {
      {"server.listen", "must be HOST:PORT", 4},
      {"source", "at least one [[source]] is required", std::nullopt},
  };
  EXPECT_EQ(format_errors(errors, "/etc/sendgrid-source/config.toml"),
            "/etc/sendgrid-source/config.toml:4: server.listen: must be HOST:PORT\n"
            "/etc/sendgrid-source/config.toml: source: at least one [[source]] is required\n");
}

TEST(ConfigErrors, SecretValuesNeverAppearInErrors) {
  const auto errors = parse_errors(R"([[source]]
name = "a"
api_key = "SG.topsecret"
api_key_file = "/k"
webhook_basic_auth = "hookuser_only_no_colon_supersecret"
)");
  ASSERT_EQ(errors.size(), 2u) << format_errors(errors, "test.toml");
  const std::string text = format_errors(errors, "test.toml");
  EXPECT_EQ(text.find("topsecret"), std::string::npos) << text;
  EXPECT_EQ(text.find("supersecret"), std::string::npos) << text;
}

TEST(ConfigParse, OAuthClientIsReadWithItsTokenLifetime) {
  const config c = parse_ok(R"([[source]]
name = "a"
webhook_oauth_client_id = "a835e7210bbb47edbfa71bdfc909b2d7"
webhook_oauth_client_secret_file = "oauth_secret"
webhook_oauth_token_ttl = "30m"
[[source]]
name = "b"
webhook_oauth_client_id = "b-client"
webhook_oauth_client_secret = "b-secret"
)");
  EXPECT_EQ(c.sources[0].webhook_oauth_client_id, "a835e7210bbb47edbfa71bdfc909b2d7");
  EXPECT_EQ(c.sources[0].webhook_oauth_client_secret_file, std::filesystem::path("oauth_secret"));
  EXPECT_EQ(c.sources[0].webhook_oauth_token_ttl, 30min);
  EXPECT_EQ(c.sources[1].webhook_oauth_client_secret, "b-secret");
  EXPECT_EQ(c.sources[1].webhook_oauth_token_ttl, 1h);  // the default
}

TEST(ConfigErrors, OAuthSecretNeverAppearsInErrors) {
  const auto errors = parse_errors(R"([[source]]
name = "a"
webhook_oauth_client_secret = "oauth-topsecret"
webhook_oauth_client_secret_file = "/run/oauth-topsecret-file"
)");
  const std::string text = format_errors(errors, "test.toml");
  EXPECT_FALSE(errors.empty());
  EXPECT_EQ(text.find("oauth-topsecret"), std::string::npos) << text;
}

// ---------------------------------------------------------------------------------------
// Durations

TEST(ConfigDuration, ParsesSingleAndCompoundUnits) {
  EXPECT_EQ(parse_duration("3h"), 3h);
  EXPECT_EQ(parse_duration("90m"), 90min);
  EXPECT_EQ(parse_duration("45s"), 45s);
  EXPECT_EQ(parse_duration("2d"), 48h);
  EXPECT_EQ(parse_duration("1h30m"), 90min);
  EXPECT_EQ(parse_duration("1h30m15s"), 5415s);
  EXPECT_EQ(parse_duration("1d0h"), 24h);
  EXPECT_EQ(parse_duration("3650d"), max_duration);
}

TEST(ConfigDuration, RejectsEmptyZeroBareNumbersUnknownUnitsNegativesAndOverflow) {
  for (const std::string_view bad :
       {"", "0s", "0h0m", "3", "h", "-1h", "3x", "1.5h", " 3h", "3h ", "3H", "30m1h", "1m1m", "1ms",
        "3651d", "99999999999999999999s", "9223372036854775807s"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << '"' << bad << '"';
  }
}

// ---------------------------------------------------------------------------------------
// API keys

// Sets or unsets an environment variable for one test and restores it afterwards.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value == nullptr) {
      ::unsetenv(name);
    } else {
      ::setenv(name, value, 1);
    }
  }
  ~scoped_env() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

class ConfigSecrets : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "sgs_config_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path write(const std::string& name, const std::string& content) {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  std::filesystem::path dir_;
};

std::optional<std::string> key_of(const api_key_result& result) {
  if (const auto* error = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << "unexpected error: " << *error;
    return std::nullopt;
  }
  return std::get<std::optional<std::string>>(result);
}

std::string error_of(const api_key_result& result) {
  if (const auto* error = std::get_if<std::string>(&result)) return *error;
  ADD_FAILURE() << "expected an error";
  return {};
}

TEST_F(ConfigSecrets, NoKeyConfiguredGivesNulloptSoSyncIsOff) {
  EXPECT_EQ(key_of(resolve_api_key(api_key_source{}, "a")), std::nullopt);
}

TEST_F(ConfigSecrets, InlineKeyIsReturnedTrimmed) {
  api_key_source source;
  source.inline_key = " SG.abc ";
  EXPECT_EQ(key_of(resolve_api_key(source, "a")), "SG.abc");
}

TEST_F(ConfigSecrets, EnvKeyIsReadFromTheNamedVariable) {
  scoped_env env("SGS_TEST_API_KEY", "SG.fromenv\n");
  api_key_source source;
  source.env = "SGS_TEST_API_KEY";
  EXPECT_EQ(key_of(resolve_api_key(source, "a")), "SG.fromenv");
}

TEST_F(ConfigSecrets, UnsetOrEmptyEnvIsAnErrorNamingSourceAndVariable) {
  api_key_source source;
  source.env = "SGS_TEST_API_KEY";
  {
    scoped_env env("SGS_TEST_API_KEY", nullptr);
    EXPECT_EQ(error_of(resolve_api_key(source, "mkt")),
              "source 'mkt': api_key_env names SGS_TEST_API_KEY, which is not set");
  }
  {
    scoped_env env("SGS_TEST_API_KEY", "");
    EXPECT_EQ(error_of(resolve_api_key(source, "mkt")),
              "source 'mkt': api_key_env names SGS_TEST_API_KEY, which is not set");
  }
}

TEST_F(ConfigSecrets, FileKeyIsReadWithTrailingNewlineTrimmed) {
  api_key_source source;
  source.file = write("k", "SG.fromfile\r\n\n");
  scoped_env no_credentials("CREDENTIALS_DIRECTORY", nullptr);
  EXPECT_EQ(key_of(resolve_api_key(source, "a")), "SG.fromfile");
}

TEST_F(ConfigSecrets, RelativeFileResolvesAgainstCredentialsDirectory) {
  write("marketing.key", "SG.credential\n");
  scoped_env credentials("CREDENTIALS_DIRECTORY", dir_.c_str());
  api_key_source source;
  source.file = "marketing.key";
  EXPECT_EQ(resolve_api_key_path("marketing.key"), dir_ / "marketing.key");
  EXPECT_EQ(resolve_api_key_path("/abs/k"), std::filesystem::path("/abs/k"));
  EXPECT_EQ(key_of(resolve_api_key(source, "a")), "SG.credential");
}

TEST_F(ConfigSecrets, MissingFileErrorNamesPathAndErrnoButNothingElse) {
  scoped_env no_credentials("CREDENTIALS_DIRECTORY", nullptr);
  api_key_source source;
  source.file = dir_ / "absent.key";
  const std::string error = error_of(resolve_api_key(source, "mkt"));
  EXPECT_EQ(error, "source 'mkt': api_key_file \"" + (dir_ / "absent.key").string() +
                       "\" cannot be opened: No such file or directory");
}

TEST_F(ConfigSecrets, BadFileContentErrorsNeverContainTheKey) {
  api_key_source source;
  source.file = write("k", "SG.first secretpart\n");
  std::string error = error_of(resolve_api_key(source, "a"));
  EXPECT_EQ(error.find("secretpart"), std::string::npos) << error;
  EXPECT_NE(error.find("must hold only the API key"), std::string::npos) << error;

  source.file = write("empty", "\n\n");
  error = error_of(resolve_api_key(source, "a"));
  EXPECT_NE(error.find("is empty"), std::string::npos) << error;

  source.file = dir_;  // a directory: opened, but read fails with EISDIR
  error = error_of(resolve_api_key(source, "a"));
  EXPECT_NE(error.find("Is a directory"), std::string::npos) << error;
}

TEST_F(ConfigSecrets, FileReadableByOthersDetectsWorldReadableMode) {
  const auto path = write("k", "SG.x\n");
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  EXPECT_FALSE(file_readable_by_others(path));
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  EXPECT_TRUE(file_readable_by_others(path));
  EXPECT_FALSE(file_readable_by_others(dir_ / "absent"));
}

// ---------------------------------------------------------------------------------------
// The shipped example

TEST(ConfigExample, ExampleFileParsesWithoutErrors) {
  const std::filesystem::path path =
      std::filesystem::path(SGS_TEST_DATA_DIR "/../..") / "config.toml.example";
  const std::string text = read_file(path);
  ASSERT_FALSE(text.empty()) << "cannot read " << path;
  const config c = parse_ok(text);
  ASSERT_EQ(c.sources.size(), 1u);
  EXPECT_EQ(c.sources[0].name, "marketing");
  EXPECT_EQ(c.sources[0].webhook_verification_keys.size(), 1u);
}

TEST(ConfigExample, ExampleFileDocumentsEveryKey) {
  const std::string text =
      read_file(std::filesystem::path(SGS_TEST_DATA_DIR "/../..") / "config.toml.example");
  for (const std::string_view key : {"listen",
                                     "public_url",
                                     "max_body_bytes",
                                     "header_timeout_seconds",
                                     "body_timeout_seconds",
                                     "idle_timeout_seconds",
                                     "max_connections",
                                     "tls_cert_file",
                                     "tls_key_file",
                                     "tls_handshake_timeout_seconds",
                                     "dir",
                                     "synchronous",
                                     "dedup_window_hours",
                                     "busy_timeout_ms",
                                     "level",
                                     "format",
                                     "name",
                                     "api_key",
                                     "api_key_file",
                                     "api_key_env",
                                     "api_base",
                                     "on_behalf_of",
                                     "sync_interval",
                                     "collections",
                                     "suppression_reconcile_interval",
                                     "stats_trailing_days",
                                     "stats_backfill_days",
                                     "webhook_verification_key",
                                     "webhook_event_types",
                                     "webhook_basic_auth",
                                     "webhook_max_age_seconds",
                                     "webhook_oauth_client_id",
                                     "webhook_oauth_client_secret",
                                     "webhook_oauth_client_secret_file",
                                     "webhook_oauth_token_ttl",
                                     "display_name",
                                     "unsubscribe_group_id",
                                     "from_email",
                                     "from_name",
                                     "default_subject"}) {
    EXPECT_NE(text.find(std::string(key) + " = "), std::string::npos) << key;
  }
}

}  // namespace
}  // namespace sgs::config

TEST(Config, PostgresqlStorageIsReadAndTheUrlNeverAppearsInErrors) {
  auto r = sgs::config::parse_config(
      "[storage]\nbackend = \"postgresql\"\nurl = \"postgresql://u:s3cret@db:5432/w\"\n"
      "retention_days = 400\n[[source]]\nname = \"m\"\n",
      "t.toml");
  ASSERT_TRUE(std::holds_alternative<sgs::config::config>(r));
  const auto& c = std::get<sgs::config::config>(r);
  EXPECT_EQ(c.storage.backend, sgs::config::storage_backend::postgresql);
  EXPECT_EQ(c.storage.url, "postgresql://u:s3cret@db:5432/w");
  EXPECT_EQ(c.storage.retention_days, 400u);
  auto bad = sgs::config::parse_config(
      "[storage]\nbackend = \"postgresql\"\nurl = \"mysql://u:s3cret@db\"\n", "t.toml");
  ASSERT_TRUE(std::holds_alternative<std::vector<sgs::config::config_error>>(bad));
  const auto text =
      sgs::config::format_errors(std::get<std::vector<sgs::config::config_error>>(bad), "t.toml");
  EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
  auto both = sgs::config::parse_config(
      "[storage]\nbackend = \"postgresql\"\nurl = \"postgresql://db/w\"\nurl_file = \"u\"\n",
      "t.toml");
  ASSERT_TRUE(std::holds_alternative<std::vector<sgs::config::config_error>>(both));
  EXPECT_NE(
      sgs::config::format_errors(std::get<std::vector<sgs::config::config_error>>(both), "t.toml")
          .find("storage.url_file: set url or url_file, not both"),
      std::string::npos);
}
