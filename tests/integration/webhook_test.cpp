// Posts real bodies over 127.0.0.1 to the real server and checks answers and the database.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <fstream>
#include <sstream>
#include <thread>
#include <tuple>

#include "events/signature.hpp"
#include "http_client.hpp"
#include "store_backends.hpp"
#include "test_server.hpp"

using sgs::test::backend_kind;
using sgs::test::backend_server;
using sgs::test::backend_under_test;
using sgs::test::count_events;
using sgs::test::count_rows;
using sgs::test::http_client;
using sgs::test::query_text;
using sgs::test::temp_dir;
using sgs::test::test_server;

namespace {

const std::string url = "/webhooks/sendgrid/default";

std::string read_data(const std::string& name) {
  std::ifstream in(std::string(SGS_TEST_DATA_DIR) + "/" + name, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A delivered event whose ids and fingerprint are unique for (client, n).
std::string unique_event(int client, int n, const std::string& type = "delivered") {
  const std::string id = "c" + std::to_string(client) + "n" + std::to_string(n);
  return R"({"email":"user)" + id + R"(@example.com","timestamp":1700000000,"event":")" + type +
         R"(","sg_event_id":"ev-)" + id + R"(","sg_message_id":"msg-)" + id + R"(.filter0001.0"})";
}

std::string batch_of(int client, int first, int count) {
  std::string body = "[";
  for (int i = 0; i < count; ++i) {
    if (i) body += ",\r\n";
    body += unique_event(client, first + i);
  }
  return body + "]\r\n";
}

// The webhook on every store backend (SQLite, PostgreSQL): the source's tables read as a user
// would, with SQL both accept (the few queries that differ say so).
class WebhookTest : public ::testing::TestWithParam<backend_kind> {
 protected:
  void SetUp() override {
    SGS_REQUIRE_BACKEND(b);
    server = std::make_unique<backend_server>(b.backend(), std::vector<std::string>{b.source()});
    url = "/webhooks/sendgrid/" + b.source();
  }
  // Settled: everything acknowledged is in the tables (see backend_server::settle).
  backend_under_test& db() {
    server->settle();
    return b;
  }
  bool sqlite() const { return GetParam() == backend_kind::sqlite; }
  backend_under_test b{GetParam()};
  std::unique_ptr<backend_server> server;
  std::string url;
};

TEST_P(WebhookTest, EveryDocumentedEventTypeLandsInItsTable) {
  http_client client(server->port());
  auto res = client.post(url, read_data("webhook/all_types.json"));
  ASSERT_EQ(res.status, 200) << res.body;
  // 16 examples; the click and the Single Send open share sg_event_id
  // "sendgrid_internal_event_id", so the second is a duplicate by id.
  EXPECT_EQ(res.body, R"({"stored":15,"duplicates":1,"rejected":0})");
  EXPECT_EQ(count_rows(db(), "processed"), 2);
  EXPECT_EQ(count_rows(db(), "dropped"), 1);
  EXPECT_EQ(count_rows(db(), "delivered"), 1);
  EXPECT_EQ(count_rows(db(), "deferred"), 1);
  EXPECT_EQ(count_rows(db(), "bounce"), 3);
  EXPECT_EQ(count_rows(db(), "_open"), 1);
  EXPECT_EQ(count_rows(db(), "click"), 1);
  EXPECT_EQ(count_rows(db(), "spam_report"), 1);
  EXPECT_EQ(count_rows(db(), "unsubscribe"), 1);
  EXPECT_EQ(count_rows(db(), "group_unsubscribe"), 1);
  EXPECT_EQ(count_rows(db(), "group_resubscribe"), 1);
  EXPECT_EQ(count_rows(db(), "account_status_change"), 1);
  EXPECT_EQ(count_rows(db(), "activity"), 15);
  EXPECT_EQ(query_text(db(), "SELECT sum(events) FROM daily_counts"), "15");
  EXPECT_EQ(
      query_text(db(),
                 "SELECT events FROM daily_counts WHERE day = '2017-12-15' AND event = 'bounce'"),
      "1");
  // Typed values, as a user queries them.
  EXPECT_EQ(
      query_text(db(),
                 "SELECT category FROM processed WHERE sg_event_id='rbtnWrG1DVDGGGFHFyun0A=='"),
      R"(["cat facts"])");
  EXPECT_EQ(
      query_text(db(),
                 "SELECT pool_name || '/' || pool_id FROM processed WHERE pool_id IS NOT NULL"),
      "new_MY_test/210");
  EXPECT_EQ(query_text(db(), "SELECT smtp_id FROM delivered"),
            "<14c5d75ce93.dfd.64b469@ismtpd-555>");
  EXPECT_EQ(query_text(db(), "SELECT tls FROM delivered"), "1");
  EXPECT_EQ(query_text(db(), "SELECT attempt + 1 FROM deferred"), "6");
  EXPECT_EQ(query_text(db(), "SELECT url_offset_index || url_offset_type FROM click"), "0html");
  EXPECT_EQ(
      query_text(db(), sqlite() ? "SELECT json_extract(custom_args, '$.unique_arg_key') FROM click"
                                : "SELECT custom_args->>'unique_arg_key' FROM click"),
      "unique_arg_value");
  EXPECT_EQ(query_text(db(), sqlite() ? "SELECT json_array_length(category) FROM click"
                                      : "SELECT jsonb_array_length(category) FROM click"),
            "2");
  EXPECT_EQ(query_text(db(), "SELECT sg_machine_open FROM _open"), "0");
  EXPECT_EQ(query_text(db(), "SELECT type FROM account_status_change"), "compliance_suspend");
  EXPECT_EQ(query_text(db(), "SELECT count(*) FROM bounce WHERE status IS NULL"), "1");
  EXPECT_EQ(query_text(db(), "SELECT event FROM activity WHERE source_table = 'spam_report'"),
            "spamreport");
  // raw is the element exactly as sent (PostgreSQL: as jsonb, equal to it).
  const std::string spam_raw =
      R"({"email":"alex@example.com","timestamp":1513299569,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"spamreport","sg_event_id":"37nvH5QBz858KGVYCM4uOA==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"})";
  if (sqlite()) {
    EXPECT_EQ(query_text(db(), "SELECT raw FROM spam_report"), spam_raw);
  } else {
    EXPECT_EQ(query_text(db(), "SELECT raw = '" + spam_raw + "'::jsonb FROM spam_report"), "t");
  }
  EXPECT_FALSE(query_text(db(), "SELECT received_at FROM spam_report").empty());
}

TEST_P(WebhookTest, SameBodyPostedTwiceStoresItOnce) {
  http_client client(server->port());
  const std::string body = batch_of(1, 0, 100);
  ASSERT_EQ(client.post(url, body).status, 200);
  auto again = client.post(url, body);
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(again.body, R"({"stored":0,"duplicates":100,"rejected":0})");
  EXPECT_EQ(count_events(db()), 100);
  EXPECT_EQ(query_text(db(), "SELECT sum(events) FROM daily_counts"), "100");
}

TEST_P(WebhookTest, RetriedBatchWithChangedEventIdsIsRecognisedByFingerprint) {
  http_client client(server->port());
  std::string body = batch_of(2, 0, 20);
  ASSERT_EQ(client.post(url, body).status, 200);
  std::string changed = body;
  for (std::size_t p = 0; (p = changed.find("\"ev-", p)) != std::string::npos; p += 4)
    changed[p + 1] = 'X';
  auto res = client.post(url, changed);
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(res.body, R"({"stored":0,"duplicates":20,"rejected":0})");
  EXPECT_EQ(count_rows(db(), "delivered"), 20);
}

TEST_P(WebhookTest, EventsWithoutEventIdAreDedupedByContent) {
  http_client client(server->port());
  const std::string body =
      R"([{"email":"a@example.com","timestamp":1513299569,"event":"group_unsubscribe","asm_group_id":10,"sg_message_id":"m1"},
          {"email":"a@example.com","timestamp":1513299569,"event":"group_unsubscribe","asm_group_id":11,"sg_message_id":"m1"}])";
  ASSERT_EQ(client.post(url, body).status, 200);
  ASSERT_EQ(client.post(url, body).status, 200);
  EXPECT_EQ(count_rows(db(), "group_unsubscribe"), 2);  // two groups: two distinct events
}

TEST_P(WebhookTest, DuplicatesWithinOneBodyAreStoredOnce) {
  http_client client(server->port());
  const std::string e = unique_event(3, 1);
  auto res = client.post(url, "[" + e + "," + e + "]");
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(res.body, R"({"stored":1,"duplicates":1,"rejected":0})");
}

TEST_P(WebhookTest, DataAndDedupSurviveARestart) {
  const std::string body = batch_of(4, 0, 50);
  {
    http_client client(server->port());
    ASSERT_EQ(client.post(url, body).status, 200);
  }
  server->stop();
  server.reset();
  server = std::make_unique<backend_server>(b.backend(), std::vector<std::string>{b.source()});
  EXPECT_EQ(count_events(db()), 50);
  http_client client(server->port());
  auto res = client.post(url, body);
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(res.body, R"({"stored":0,"duplicates":50,"rejected":0})");
  EXPECT_EQ(count_events(db()), 50);
}

TEST_P(WebhookTest, SixtyFourConcurrentClientsStoreExactlyTheSum) {
  constexpr int clients = 64;
  constexpr int posts = 5;
  constexpr int per_post = 40;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      http_client client(server->port());
      for (int p = 0; p < posts; ++p) {
        if (client.post(url, batch_of(100 + c, p * per_post, per_post)).status == 200) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), clients * posts);
  EXPECT_EQ(count_rows(db(), "delivered"), clients * posts * per_post);
}

struct bad_body {
  const char* name;
  std::string body;
  int status;
};

// A bad body on every store backend: refused, nothing stored, the server keeps serving.
class BadBodyTest : public ::testing::TestWithParam<std::tuple<backend_kind, bad_body>> {
 protected:
  void SetUp() override {
    SGS_REQUIRE_BACKEND(b);
    server = std::make_unique<backend_server>(b.backend(), std::vector<std::string>{b.source()});
    url = "/webhooks/sendgrid/" + b.source();
  }
  backend_under_test& db() {
    server->settle();
    return b;
  }
  const bad_body& bad() const { return std::get<1>(GetParam()); }
  backend_under_test b{std::get<0>(GetParam())};
  std::unique_ptr<backend_server> server;
  std::string url;
};

TEST_P(BadBodyTest, IsRefusedWithTheDocumentedAnswerAndNothingIsStored) {
  http_client client(server->port());
  ASSERT_EQ(client.post(url, batch_of(5, 0, 3)).status, 200);
  const auto before_events = count_events(db());
  const auto before_rejected = count_rows(db(), "rejected_events");
  auto res = client.post(url, bad().body);
  EXPECT_EQ(res.status, bad().status) << res.body;
  EXPECT_NE(res.body.find("\"error\""), std::string::npos) << res.body;
  EXPECT_EQ(count_events(db()), before_events);
  EXPECT_EQ(count_rows(db(), "rejected_events"), before_rejected);
  // The server keeps serving, on a new connection as well.
  http_client next(server->port());
  EXPECT_EQ(next.post(url, batch_of(6, 0, 1)).status, 200);
}

std::string deeply_nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

INSTANTIATE_TEST_SUITE_P(
    SpecBadInputs, BadBodyTest,
    ::testing::Combine(
        ::testing::Values(backend_kind::sqlite, backend_kind::postgresql),
        ::testing::Values(
            bad_body{"not_json", "this is not json", 400}, bad_body{"empty_body", "", 400},
            bad_body{"truncated", batch_of(7, 0, 5).substr(0, 150), 400},
            bad_body{"missing_final_bracket", "[" + unique_event(7, 9), 400},
            bad_body{"object_not_array", unique_event(7, 10), 400},
            bad_body{"string_not_array", "\"events\"", 400},
            bad_body{"number_not_array", "42", 400}, bad_body{"null_not_array", "null", 400},
            bad_body{"invalid_utf8", "[{\"email\":\"a\xff\xfe@b.c\",\"event\":\"open\"}]", 400},
            bad_body{"trailing_garbage", batch_of(7, 20, 2) + "junk", 400},
            bad_body{"two_arrays", batch_of(7, 30, 1) + batch_of(7, 31, 1), 400},
            bad_body{"deeply_nested", deeply_nested(100000), 400})),
    [](const auto& info) {
      return sgs::test::backend_label(std::get<0>(info.param)) + "_" + std::get<1>(info.param).name;
    });

TEST_P(WebhookTest, BadBodyReasonSaysWhatWasWrong) {
  http_client client(server->port());
  EXPECT_NE(client.post(url, "nope").body.find("not valid JSON"), std::string::npos);
  EXPECT_NE(client.post(url, "null").body.find("not null"), std::string::npos);
  EXPECT_NE(client.post(url, R"({"event":"open"})").body.find("not an object"), std::string::npos);
}

TEST_P(WebhookTest, EmptyArrayIsAcceptedAndStoresNothing) {
  http_client client(server->port());
  auto res = client.post(url, "[]");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, R"({"stored":0,"duplicates":0,"rejected":0})");
  EXPECT_EQ(count_events(db()), 0);
}

TEST_P(WebhookTest, UnusableElementsAreKeptRawAndTheRestIsStored) {
  http_client client(server->port());
  const std::string body = "[" + unique_event(8, 0) + R"(, 1, "two", null, [3],
      {"email":"a@b.c","timestamp":"yesterday","event":"bounce"},
      {"email":["a@b.c"],"timestamp":1,"event":"processed"},
      {"email":"a@b.c","timestamp":1,"event":7},
      {"email":"a@b.c","timestamp":1},
      {"timestamp":1,"event":"open"}, )" +
                           unique_event(8, 1) + "]";
  auto res = client.post(url, body);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.body, R"({"stored":2,"duplicates":0,"rejected":9})");
  EXPECT_EQ(count_rows(db(), "delivered"), 2);
  EXPECT_EQ(count_rows(db(), "rejected_events"), 9);
  EXPECT_EQ(query_text(db(), "SELECT raw FROM rejected_events WHERE raw LIKE '%yesterday%'"),
            R"({"email":"a@b.c","timestamp":"yesterday","event":"bounce"})");
  EXPECT_NE(query_text(db(), "SELECT reason FROM rejected_events WHERE raw LIKE '%yesterday%'")
                .find("timestamp"),
            std::string::npos);
}

TEST_P(WebhookTest, UnknownEventTypeIsKeptWholeInOtherEvents) {
  http_client client(server->port());
  auto res = client.post(
      url,
      R"([{"email":"a@b.c","timestamp":5,"event":"brand_new_type","sg_event_id":"x1","foo":"bar"}])");
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(count_rows(db(), "other_events"), 1);
  EXPECT_EQ(query_text(db(), "SELECT event FROM other_events"), "brand_new_type");
  EXPECT_EQ(query_text(db(), "SELECT event FROM activity"), "brand_new_type");
}

TEST_P(WebhookTest, HugeStringFieldIsStoredIntact) {
  http_client client(server->port());
  const std::string reason(4 * 1024 * 1024, 'r');
  auto res = client.post(
      url, R"([{"email":"a@b.c","timestamp":5,"event":"bounce","sg_event_id":"big","reason":")" +
               reason + "\"}]");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(query_text(db(), "SELECT length(reason) FROM bounce"), std::to_string(reason.size()));
}

TEST_P(WebhookTest, Utf8BomIsSkipped) {
  http_client client(server->port());
  auto res = client.post(url, "\xEF\xBB\xBF" + batch_of(9, 0, 2));
  EXPECT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(count_events(db()), 2);
}

TEST(WebhookLimits, BodyOverTheLimitIsRefusedWith413) {
  temp_dir dir;
  sgs::webhook::server_options options;
  options.max_body_bytes = 10 * 1024;
  test_server server(dir.path(), {"default"}, options);
  http_client client(server.port());
  auto res = client.post(url, batch_of(10, 0, 200));  // ~25 KB
  EXPECT_EQ(res.status, 413);
  EXPECT_EQ(count_events(server.db_file()), 0);
  http_client next(server.port());
  EXPECT_EQ(next.post(url, batch_of(10, 500, 5)).status, 200);
}

TEST_P(WebhookTest, UnknownSourceIs404) {
  http_client client(server->port());
  EXPECT_EQ(client.post("/webhooks/sendgrid/nope", batch_of(11, 0, 1)).status, 404);
}

TEST_P(WebhookTest, WrongMethodIs405AndWrongPathIs404) {
  http_client client(server->port());
  auto get = client.request("GET", url);
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.headers["allow"], "POST");
  EXPECT_EQ(client.post("/webhook", batch_of(11, 1, 1)).status, 404);
  EXPECT_EQ(client.request("DELETE", "/healthz").status, 405);
  EXPECT_EQ(count_events(db()), 0);
}

TEST_P(WebhookTest, HealthzReportsEachSource) {
  http_client client(server->port());
  ASSERT_EQ(client.post(url, batch_of(12, 0, 3)).status, 200);
  auto res = client.request("GET", "/healthz");
  EXPECT_EQ(res.status, 200);
  EXPECT_NE(res.body.find("\"" + b.source() + R"(":{"writable":true,"events_stored":3)"),
            std::string::npos)
      << res.body;
  EXPECT_NE(res.body.find(R"("status":"ok")"), std::string::npos) << res.body;
}

TEST_P(WebhookTest, MetricsCountStoredAndDuplicateEvents) {
  http_client client(server->port());
  const auto body = batch_of(13, 0, 4);
  ASSERT_EQ(client.post(url, body).status, 200);
  ASSERT_EQ(client.post(url, body).status, 200);
  auto res = client.request("GET", "/metrics");
  EXPECT_EQ(res.status, 200);
  const std::string labels = "{source=\"" + b.source() + R"(",table="delivered"} 4)";
  EXPECT_NE(res.body.find("sendgrid_source_events_stored_total" + labels), std::string::npos);
  EXPECT_NE(res.body.find("sendgrid_source_events_duplicate_total" + labels), std::string::npos);
}

TEST_P(WebhookTest, MalformedHttpGets400AndTheConnectionCloses) {
  http_client client(server->port());
  std::string answer = client.raw_exchange("THIS IS NOT HTTP\r\n\r\n");
  EXPECT_NE(answer.find("400"), std::string::npos) << answer;
}

TEST(WebhookStorage, LockedPendingFileAnswers503AndNothingIsAcknowledged) {
  temp_dir dir;
  sgs::store::store_options so;
  so.busy_timeout = std::chrono::milliseconds(200);
  test_server server(dir.path(), {"default"}, {}, so);
  http_client client(server.port());
  const std::string body = batch_of(14, 0, 10);
  {
    // Another process holds the write lock of the file acknowledgements are committed to,
    // beyond the busy timeout.
    SQLite::Database other(sgs::store::pending_file_for(server.db_file()).string(),
                           SQLite::OPEN_READWRITE);
    other.exec("BEGIN IMMEDIATE");
    auto res = client.post(url, body);
    EXPECT_EQ(res.status, 503) << res.body;
    auto health = client.request("GET", "/healthz");
    EXPECT_EQ(health.status, 503);
    other.exec("ROLLBACK");
  }
  // SendGrid retries: the same body is stored in full, nothing was marked as seen.
  auto retry = client.post(url, body);
  EXPECT_EQ(retry.status, 200);
  EXPECT_EQ(retry.body, R"({"stored":10,"duplicates":0,"rejected":0})");
  EXPECT_EQ(client.request("GET", "/healthz").status, 200);
}

TEST(WebhookStorage, LockedTablesAreBufferedUpToTheHighWaterMarkThen503AndNothingIsLost) {
  temp_dir dir;
  sgs::store::store_options so;
  so.busy_timeout = std::chrono::milliseconds(200);
  so.pending_high_water = 30;
  test_server server(dir.path(), {"default"}, {}, so);
  http_client client(server.port());
  int acknowledged = 0;
  {
    // A reader's write lock on the event tables' file (an operator's long UPDATE, say):
    // merging stops, acknowledging into the pending file goes on up to the mark.
    SQLite::Database other(server.db_file().string(), SQLite::OPEN_READWRITE);
    other.exec("BEGIN IMMEDIATE");
    int refused = 0;
    for (int i = 0; i < 40 && refused == 0; ++i) {
      auto res = client.post(url, batch_of(14, i * 10, 10));
      if (res.status == 200) {
        ++acknowledged;
      } else {
        EXPECT_EQ(res.status, 503) << res.body;
        EXPECT_NE(res.body.find("cannot be written"), std::string::npos) << res.body;
        ++refused;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_GE(acknowledged, 3);
    EXPECT_EQ(refused, 1);
    EXPECT_EQ(client.request("GET", "/healthz").status, 503);
    other.exec("ROLLBACK");
  }
  server.settle();
  EXPECT_EQ(count_events(server.db_file()), acknowledged * 10);
  EXPECT_EQ(client.post(url, batch_of(14, 1000, 10)).status, 200);
  server.settle();
  EXPECT_EQ(count_events(server.db_file()), acknowledged * 10 + 10);
  EXPECT_EQ(client.request("GET", "/healthz").status, 200);
}

// The soak benchmark plots checkpoints from /metrics: they must count what the store does.
TEST(WebhookStorage, MetricsCountWalRestartCheckpointsAndResets) {
  temp_dir dir;
  sgs::store::store_options so;
  so.checkpoint_after_frames = 4;  // 16 KiB pages: a few commits cross both limits
  so.restart_after_frames = 8;
  test_server server(dir.path(), {"default"}, {}, so);
  http_client client(server.port());
  const auto metric = [&](const std::string& name) {
    const auto body = client.request("GET", "/metrics").body;
    const std::string line = name + "{source=\"default\"} ";
    const auto at = body.find(line);
    return at == std::string::npos ? -1 : std::stol(body.substr(at + line.size()));
  };
  EXPECT_EQ(metric("sendgrid_source_wal_restart_checkpoints_total"), 0);
  EXPECT_EQ(metric("sendgrid_source_wal_resets_total"), 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int n = 0;
  while ((metric("sendgrid_source_wal_restart_checkpoints_total") < 1 ||
          metric("sendgrid_source_wal_resets_total") < 1) &&
         std::chrono::steady_clock::now() < deadline) {
    ASSERT_EQ(client.post(url, batch_of(15, n, 500)).status, 200);
    n += 500;
  }
  EXPECT_GE(metric("sendgrid_source_wal_restart_checkpoints_total"), 1);
  EXPECT_GE(metric("sendgrid_source_wal_resets_total"), 1);
}

TEST_P(WebhookTest, KeepAliveServesManyRequestsOnOneConnection) {
  http_client client(server->port());
  for (int i = 0; i < 20; ++i) ASSERT_EQ(client.post(url, batch_of(15, i, 1)).status, 200);
  EXPECT_EQ(count_events(db()), 20);
}

}  // namespace

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(std::string(SGS_TEST_DATA_DIR) + "/" + path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string v2_key =
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQ4LIFtWztlsF7skFqOncjD1lun4H5w8XOhyOArHW9RcIx/FfEzx6cikC/"
    "yPfUvwaX/JScE7Fc9CJD2afQ9Ok3Q==";
const std::string v2_signature =
    "MEYCIQC/I4o6vCgqRYrTljjoVWB/"
    "GRWNtxeePlLMHr3x9ETeRQIhAIpV+03nREPTTHWSW0wIOA0EoMPdcNgXa70yCaqDJlu5";

class SignedWebhookTest : public ::testing::Test {
 protected:
  sgs::events::signature_verifier verifier = std::get<sgs::events::signature_verifier>(
      sgs::events::signature_verifier::from_base64_keys({v2_key}));
  temp_dir dir;
  std::unique_ptr<test_server> server;
  void SetUp() override {
    sgs::webhook::source_auth auth;
    auth.verifier = &verifier;
    server = std::make_unique<test_server>(
        dir.path(), std::vector<std::string>{"default"}, sgs::webhook::server_options{},
        sgs::store::store_options{},
        std::map<std::string, sgs::webhook::source_auth>{{"default", auth}});
  }
};

TEST_F(SignedWebhookTest, RealSignedBodyIsVerifiedOnItsRawBytesAndStored) {
  http_client client(server->port());
  auto res = client.request("POST", url, read_file("signatures/v2_payload.json"),
                            {{"X-Twilio-Email-Event-Webhook-Signature", v2_signature},
                             {"X-Twilio-Email-Event-Webhook-Timestamp", "1619651159"}});
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(count_rows(server->db_file(), "processed"), 1);
  EXPECT_EQ(count_rows(server->db_file(), "bounce"), 1);
}

TEST_F(SignedWebhookTest, MissingOrWrongSignatureIs403AndNothingIsStored) {
  http_client client(server->port());
  const std::string body = read_file("signatures/v2_payload.json");
  EXPECT_EQ(client.post(url, body).status, 403);
  EXPECT_EQ(client
                .request("POST", url, body,
                         {{"X-Twilio-Email-Event-Webhook-Signature", v2_signature},
                          {"X-Twilio-Email-Event-Webhook-Timestamp", "1619651158"}})
                .status,
            403);
  std::string tampered = body;
  tampered[tampered.find("invalid@")] = 'I';
  EXPECT_EQ(client
                .request("POST", url, tampered,
                         {{"X-Twilio-Email-Event-Webhook-Signature", v2_signature},
                          {"X-Twilio-Email-Event-Webhook-Timestamp", "1619651159"}})
                .status,
            403);
  EXPECT_EQ(count_events(server->db_file()), 0);
  EXPECT_EQ(count_rows(server->db_file(), "rejected_events"), 0);
}

TEST(WebhookBasicAuth, WrongOrMissingCredentialsAre401WithChallenge) {
  temp_dir dir;
  sgs::webhook::source_auth auth;
  auth.basic_auth_header = sgs::webhook::basic_auth_header("sendgrid:s3cret");
  test_server server(dir.path(), {"default"}, {}, {}, {{"default", auth}});
  http_client client(server.port());
  auto missing = client.post(url, batch_of(20, 0, 2));
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.headers["www-authenticate"],
            "Basic realm=\"sendgrid-source\", charset=\"UTF-8\"");
  http_client again(server.port());
  EXPECT_EQ(again
                .request("POST", url, batch_of(20, 0, 2),
                         {{"Authorization", "Basic c2VuZGdyaWQ6d3Jvbmc="}})
                .status,
            401);
  EXPECT_EQ(count_events(server.db_file()), 0);
  http_client good(server.port());
  EXPECT_EQ(good.request("POST", url, batch_of(20, 0, 2),
                         {{"Authorization", sgs::webhook::basic_auth_header("sendgrid:s3cret")}})
                .status,
            200);
  EXPECT_EQ(count_events(server.db_file()), 2);
}

}  // namespace

namespace {

// A raw TCP connection to the server, for clients that misbehave on purpose.
struct raw_connection {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket{ioc};
  explicit raw_connection(std::uint16_t port) {
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  }
  void send(const std::string& bytes) { boost::asio::write(socket, boost::asio::buffer(bytes)); }
  // Reads until the server closes the connection or `limit` passes; returns what came.
  std::string read_until_closed(std::chrono::milliseconds limit) {
    std::string out;
    socket.non_blocking(true);
    const auto until = std::chrono::steady_clock::now() + limit;
    char buf[4096];
    while (std::chrono::steady_clock::now() < until) {
      boost::system::error_code ec;
      const std::size_t n = socket.read_some(boost::asio::buffer(buf), ec);
      if (ec == boost::asio::error::would_block) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      if (ec) return out + "<closed>";
      out.append(buf, n);
    }
    return out;
  }
};

sgs::webhook::server_options short_timeouts() {
  sgs::webhook::server_options o;
  o.header_timeout = std::chrono::seconds(1);
  o.body_timeout = std::chrono::seconds(1);
  o.idle_timeout = std::chrono::seconds(1);
  return o;
}

TEST(WebhookLimits, MoreEventsThanTheCapIs413AndNothingIsStored) {
  temp_dir dir;
  sgs::webhook::server_options options;
  options.max_events_per_request = 100;
  test_server server(dir.path(), {"default"}, options);
  http_client client(server.port());
  auto res = client.post(url, batch_of(34, 0, 101));
  EXPECT_EQ(res.status, 413);
  EXPECT_NE(res.body.find("max_events_per_request"), std::string::npos) << res.body;
  EXPECT_EQ(client.post(url, batch_of(34, 200, 100)).status, 200);
  EXPECT_EQ(count_events(server.db_file()), 100);
}

TEST(WebhookLimits, ClientTricklingHeadersIsCutOffAndOthersAreServedMeanwhile) {
  temp_dir dir;
  test_server server(dir.path(), {"default"}, short_timeouts());
  raw_connection slow(server.port());
  slow.send("POST /webhooks/sendgrid/default HTTP/1.1\r\nHost: x\r\n");  // never finishes
  http_client other(server.port());
  EXPECT_EQ(other.post(url, batch_of(30, 0, 3)).status, 200);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_NE(slow.read_until_closed(std::chrono::seconds(5)).find("<closed>"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
}

TEST(WebhookLimits, UnfinishedBodyIsCutOffAndNothingIsStored) {
  temp_dir dir;
  test_server server(dir.path(), {"default"}, short_timeouts());
  raw_connection slow(server.port());
  slow.send(
      "POST /webhooks/sendgrid/default HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 5000\r\n\r\n[" +
      unique_event(31, 0));
  const std::string answer = slow.read_until_closed(std::chrono::seconds(5));
  EXPECT_EQ(answer.find("200 OK"), std::string::npos) << answer;
  EXPECT_NE(answer.find("<closed>"), std::string::npos);
  EXPECT_EQ(count_events(server.db_file()), 0);
}

TEST(WebhookLimits, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  temp_dir dir;
  test_server server(dir.path(), {"default"}, short_timeouts());
  raw_connection idle(server.port());
  const std::string body = batch_of(32, 0, 1);
  idle.send("POST /webhooks/sendgrid/default HTTP/1.1\r\nHost: x\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body);
  const std::string answer = idle.read_until_closed(std::chrono::seconds(5));
  EXPECT_NE(answer.find("200 OK"), std::string::npos) << answer;
  EXPECT_NE(answer.find("<closed>"), std::string::npos);  // closed by the idle timeout
}

TEST(WebhookLimits, ConnectionsOverTheCapGet503AndTheCapFreesUp) {
  temp_dir dir;
  sgs::webhook::server_options options;
  options.max_connections = 4;
  test_server server(dir.path(), {"default"}, options);
  std::vector<std::unique_ptr<raw_connection>> held;
  for (int i = 0; i < 4; ++i) held.push_back(std::make_unique<raw_connection>(server.port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the server accept them
  raw_connection extra(server.port());
  const std::string answer = extra.read_until_closed(std::chrono::seconds(3));
  EXPECT_NE(answer.find("503"), std::string::npos) << answer;
  held.clear();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  http_client client(server.port());
  EXPECT_EQ(client.post(url, batch_of(33, 0, 2)).status, 200);
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Backends, WebhookTest,
                         ::testing::Values(backend_kind::sqlite, backend_kind::postgresql),
                         sgs::test::backend_name{});
