// /metrics and /healthz over 127.0.0.1 after a real sync against the fake SendGrid API and
// real posts; refused requests logged once per interval; webhook credentials swapped live.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "fake_sendgrid.hpp"
#include "http_client.hpp"
#include "logging/log.hpp"
#include "metrics/sync_metrics.hpp"
#include "sendgrid/session.hpp"
#include "store/sqlite_object_store.hpp"
#include "sync/sync_source.hpp"
#include "test_server.hpp"
#include "webhook/auth.hpp"

using namespace std::chrono_literals;
using sgs::store::collection;
using sgs::test::count_rows;
using sgs::test::fake_account;
using sgs::test::fake_response;
using sgs::test::fake_sendgrid;
using sgs::test::http_client;
using sgs::test::query_text;
using sgs::test::temp_dir;
using sgs::test::test_server;

namespace {

const auto fixed_now = std::chrono::system_clock::time_point(1767225600s);  // 2026-01-01
const std::string url = "/webhooks/sendgrid/default";

std::string read_data(const std::string& path) {
  std::ifstream in(std::string(SGS_TEST_DATA_DIR) + "/" + path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Prometheus text -> {"name{labels}": value}; comment lines skipped.
std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos) {
      ADD_FAILURE() << "not a sample line: " << line;
      continue;
    }
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

double metric(const std::map<std::string, double>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) {
    ADD_FAILURE() << "no sample " << key;
    return -1;
  }
  return it->second;
}

double db_number(const std::filesystem::path& db, const std::string& sql) {
  return std::stod(query_text(db, sql));
}

class ObservabilityTest : public ::testing::Test {
 protected:
  // A sync of lists, segments and campaigns into default.db, with one 429 (3 s) on lists
  // and one 500 on single sends, reporting into `sync_metrics`.
  void sync_small_account() {
    api.edit([](fake_account& a) {
      for (int i = 1; i <= 5; ++i)
        a.lists.push_back(R"({"id":"l)" + std::to_string(i) + R"(","name":"n","contact_count":0})");
      a.segments = {R"({"id":"s1","name":"engaged","contacts_count":1,"parent_list_ids":[]})"};
      a.singlesends = {R"({"id":"ss1","name":"launch","status":"draft","categories":[]})",
                       R"({"id":"ss2","name":"weekly","status":"draft","categories":[]})"};
    });
    fake_response limited;
    limited.status = 429;
    limited.body = sgs::test::sendgrid_429_body;
    limited.headers["X-RateLimit-Reset"] = "3";
    api.inject("/v3/marketing/lists", limited);
    fake_response error;
    error.status = 500;
    error.body = R"({"errors":[{"field":null,"message":"internal error"}]})";
    api.inject("/v3/marketing/singlesends", error);

    sgs::store::object_store_options so;
    so.file = dir.path() / "default.db";
    auto store = sgs::store::sqlite_object_store::open(so);
    sgs::sendgrid::client_options co;
    co.api_base = api.base_url();
    co.api_key = "SG.test-key";
    sgs::sendgrid::api_client client(co);
    sgs::sendgrid::session_env env;
    env.sleep = [](std::chrono::milliseconds) { return true; };  // recorded, not slept
    env.now = [] { return fixed_now; };
    env.random01 = [] { return 0.5; };
    sgs::sendgrid::retry_policy policy;
    policy.backoff_base = 1ms;
    policy.backoff_cap = 2ms;
    sgs::sendgrid::api_session session(client, policy, env);
    sgs::sync::sync_options options;
    options.collections = {collection::lists, collection::segments, collection::campaigns};
    options.now = [] { return fixed_now; };
    options.metrics = &sync_metrics;
    const auto r = sgs::sync::sync_source(session, *store, options);
    ASSERT_TRUE(r.all_succeeded());
  }

  temp_dir dir;
  fake_sendgrid api;
  sgs::metrics::sync_metrics sync_metrics;
};

TEST_F(ObservabilityTest, MetricsCountASyncAndPostsAsTheDatabaseRecordsThem) {
  sync_small_account();
  sgs::webhook::server_options options;
  options.sync_metrics = &sync_metrics;
  test_server server(dir.path(), {"default"}, options);
  http_client client(server.port());
  ASSERT_EQ(client.post(url, read_data("webhook/all_types.json")).status, 200);
  ASSERT_EQ(client.post(url, read_data("webhook/all_types.json")).status, 200);  // duplicates
  ASSERT_EQ(client.post(url, "[{\"truncated\"").status, 400);
  ASSERT_EQ(client.post("/webhooks/sendgrid/nope", "[]").status, 404);
  const auto db = server.db_file();  // settled: every event is in its table
  const auto res = client.request("GET", "/metrics");
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(res.headers.at("content-type"), "text/plain; version=0.0.4");
  const auto m = parse_metrics(res.body);

  // The sync, as sync_runs recorded it.
  const std::string fixed_unix = "1767225600";
  for (std::string c : {"lists", "segments", "campaigns"}) {
    const std::string l = R"(source="default",collection=")" + c + "\"";
    EXPECT_EQ(metric(m, "sendgrid_source_sync_runs_total{" + l + R"(,result="succeeded"})"), 1)
        << c;
    EXPECT_EQ(metric(m, "sendgrid_source_sync_rows_upserted_total{" + l + "}"),
              db_number(db, "SELECT rows_upserted FROM sync_runs WHERE collection='" + c + "'"))
        << c;
    EXPECT_EQ(metric(m, "sendgrid_source_sync_rows_upserted_total{" + l + "}"),
              db_number(db, "SELECT count(*) FROM " + c))
        << c;
    EXPECT_EQ(metric(m, "sendgrid_source_sync_http_retries_total{" + l + "}"),
              db_number(db, "SELECT http_retries FROM sync_runs WHERE collection='" + c + "'"))
        << c;
    EXPECT_EQ(metric(m, "sendgrid_source_sync_rate_limit_waits_total{" + l + "}"),
              db_number(db, "SELECT rate_limit_waits FROM sync_runs WHERE collection='" + c + "'"))
        << c;
    EXPECT_EQ(metric(m, "sendgrid_source_sync_last_success_timestamp_seconds{" + l + "}"),
              std::stod(fixed_unix));
  }
  EXPECT_EQ(
      metric(m,
             R"(sendgrid_source_sync_rate_limit_waits_total{source="default",collection="lists"})"),
      1);
  EXPECT_EQ(
      metric(
          m,
          R"(sendgrid_source_sync_rate_limit_wait_seconds_total{source="default",collection="lists"})"),
      3);
  EXPECT_EQ(
      metric(m,
             R"(sendgrid_source_sync_http_retries_total{source="default",collection="campaigns"})"),
      1);

  // The posts: per table, received = stored + duplicate, and stored = the table's rows.
  double received_total = 0;
  for (auto t : sgs::events::all_event_types) {
    const std::string table(sgs::events::table_name(t));
    const std::string l = R"({source="default",table=")" + table + "\"}";
    const double stored = metric(m, "sendgrid_source_events_stored_total" + l);
    const double duplicate = metric(m, "sendgrid_source_events_duplicate_total" + l);
    EXPECT_EQ(stored, static_cast<double>(count_rows(db, table))) << table;
    auto received = m.find("sendgrid_source_events_received_total" + l);
    const double r = received == m.end() ? 0 : received->second;
    EXPECT_EQ(r, stored + duplicate) << table;
    received_total += r;
  }
  EXPECT_GT(received_total, 0);
  EXPECT_EQ(metric(m, R"(sendgrid_source_webhook_responses_total{source="default",code="200"})"),
            2);
  EXPECT_EQ(metric(m, R"(sendgrid_source_webhook_responses_total{source="default",code="400"})"),
            1);
  EXPECT_EQ(metric(m, R"(sendgrid_source_bad_bodies_total{source="default"})"), 1);
  EXPECT_EQ(metric(m, R"(sendgrid_source_http_responses_total{code="404"})"), 1);
  // Four requests were answered before this one: the latency histogram counted them.
  EXPECT_EQ(metric(m, "sendgrid_source_http_request_duration_seconds_count"), 4);
  EXPECT_EQ(metric(m, R"(sendgrid_source_http_request_duration_seconds_bucket{le="+Inf"})"), 4);

  // /healthz: per source, the last event and the last sync of each collection.
  const auto health = client.request("GET", "/healthz");
  EXPECT_EQ(health.status, 200) << health.body;
  EXPECT_NE(health.body.find(R"("last_event_at":")"), std::string::npos) << health.body;
  EXPECT_NE(
      health.body.find(
          R"("lists":{"result":"succeeded","finished_at":"2026-01-01T00:00:00.000Z","last_success_at":"2026-01-01T00:00:00.000Z"})"),
      std::string::npos)
      << health.body;
}

TEST_F(ObservabilityTest, HealthzWithoutSyncSaysNullAndIs503WithTheReasonWhenTheStoreIsLocked) {
  sgs::store::store_options so;
  so.busy_timeout = 200ms;
  sgs::webhook::server_options options;
  options.sync_metrics = &sync_metrics;
  test_server server(dir.path(), {"default"}, options, so);
  http_client client(server.port());
  auto health = client.request("GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_NE(health.body.find(R"("last_sync":null)"), std::string::npos) << health.body;
  {
    // The file acknowledgements are committed to.
    SQLite::Database other(sgs::store::pending_file_for(server.db_file()).string(),
                           SQLite::OPEN_READWRITE);
    other.exec("BEGIN IMMEDIATE");
    EXPECT_EQ(client.post(url, read_data("webhook/all_types.json")).status, 503);
    health = client.request("GET", "/healthz");
    EXPECT_EQ(health.status, 503);
    EXPECT_NE(
        health.body.find(R"("status":"unavailable","reason":"source default is not writable: )"),
        std::string::npos)
        << health.body;
    EXPECT_NE(health.body.find("locked"), std::string::npos) << health.body;
    other.exec("ROLLBACK");
  }
  const auto m = parse_metrics(client.request("GET", "/metrics").body);
  EXPECT_EQ(metric(m, R"(sendgrid_source_webhook_responses_total{source="default",code="503"})"),
            1);
}

std::string read_all(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  return out;
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(WebhookLogs, ARepeatedRefusalIsLoggedOnceWithItsSourceStatusAndReasonButNoBody) {
  temp_dir dir;
  sgs::webhook::source_auth auth;
  auth.basic_auth_header = sgs::webhook::basic_auth_header("user:right");
  test_server server(dir.path(), {"default"}, {}, {}, {{"default", auth}});
  std::FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  sgs::logging::install(sgs::logging::target::plain, "info", log);
  http_client client(server.port());
  const std::string body = R"([{"email":"secret-body@example.com","event":"delivered"}])";
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(client
                  .request("POST", url, body,
                           {{"Authorization", sgs::webhook::basic_auth_header("user:wrong")}})
                  .status,
              401);
  }
  for (int i = 0; i < 5; ++i) ASSERT_EQ(client.post("/webhooks/sendgrid/typo", body).status, 404);
  spdlog::default_logger()->flush();
  const std::string text = read_all(log);
  sgs::logging::install(sgs::logging::target::plain, "info");  // before the file goes away
  std::fclose(log);
  EXPECT_EQ(occurrences(text, "webhook request refused source=default status=401"), 1u) << text;
  EXPECT_NE(text.find("reason=\"wrong basic auth credentials"), std::string::npos) << text;
  EXPECT_EQ(occurrences(text, "webhook request refused path=/webhooks/sendgrid/typo status=404"),
            1u)
      << text;
  EXPECT_EQ(text.find("secret-body"), std::string::npos) << text;
  EXPECT_EQ(text.find("user:right"), std::string::npos) << text;
}

TEST(WebhookAuthReload, NewCredentialsApplyToTheNextRequestAndTheOldAreRefused) {
  temp_dir dir;
  sgs::webhook::source_auth old_auth;
  old_auth.basic_auth_header = sgs::webhook::basic_auth_header("user:old");
  test_server server(dir.path(), {"default"}, {}, {}, {{"default", old_auth}});
  http_client client(server.port());
  const std::string body = R"([{"email":"a@example.com","event":"delivered","timestamp":1}])";
  auto post_as = [&](const std::string& credentials) {
    return client
        .request("POST", url, body,
                 {{"Authorization", sgs::webhook::basic_auth_header(credentials)}})
        .status;
  };
  EXPECT_EQ(post_as("user:old"), 200);
  EXPECT_EQ(post_as("user:new"), 401);
  auto fresh = std::make_shared<sgs::webhook::source_auth>();
  fresh->basic_auth_header = sgs::webhook::basic_auth_header("user:new");
  ASSERT_TRUE(server.server().set_auth("default", fresh));
  EXPECT_FALSE(server.server().set_auth("nope", fresh));
  EXPECT_EQ(post_as("user:new"), 200);
  EXPECT_EQ(post_as("user:old"), 401);
}

}  // namespace
