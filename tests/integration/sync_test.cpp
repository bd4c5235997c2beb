// The real sync (libcurl client, object store on a temp SQLite file) against the fake SendGrid
// API on 127.0.0.1: paging, exports, legacy accounts, rate limits, retries, auth failures,
// tombstones. Waits are injected: the tests record them instead of sleeping.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <sstream>

#include "fake_sendgrid.hpp"
#include "sendgrid/client.hpp"
#include "sendgrid/session.hpp"
#include "store/sqlite_object_store.hpp"
#include "store_backends.hpp"
#include "sync/sync_source.hpp"
#include "sync_fixture.hpp"
#include "test_server.hpp"

using namespace std::chrono_literals;
using sgs::store::collection;
using sgs::store::run_status;
using sgs::test::backend_kind;
using sgs::test::backend_under_test;
using sgs::test::fake_account;
using sgs::test::fake_response;
using sgs::test::fake_sendgrid;
using sgs::test::temp_dir;

namespace {

// Fixed "now" for rate-limit epochs: 2026-01-01T00:00:00Z.
const auto fixed_now = std::chrono::system_clock::time_point(1767225600s);

std::string list_json(const std::string& id, const std::string& name, int count = 0) {
  return R"({"id":")" + id + R"(","name":")" + name + R"(","contact_count":)" +
         std::to_string(count) + R"(,"_metadata":{"self":"x"}})";
}

class SyncTest : public sgs::test::sync_fixture,
                 public ::testing::WithParamInterface<backend_kind> {
 protected:
  void SetUp() override {
    SGS_REQUIRE_BACKEND(b);
    store = b.backend().open_object_store(b.source());
  }
  SyncTest() {
    options.list_page_size = 2;
    options.singlesend_page_size = 2;
    options.legacy_campaign_page_size = 2;
    options.legacy_recipient_page_size = 2;
    options.export_poll_initial = 1ms;
    options.export_poll_max = 2ms;
  }

  sgs::sync::source_result sync(std::vector<collection> only = {}) {
    return run_sync(std::move(only));
  }

  // On PostgreSQL the tables are read through views with JSON and times as text.
  std::string q(const std::string& sql) { return b.query_as_text(sql); }

  // A small Marketing Campaigns account: 5 lists, 2 segments, 3 single sends, no contacts.
  void small_account() {
    api.edit([](fake_account& a) {
      a.lists = {list_json("l1", "one", 1), list_json("l2", "two"), list_json("l3", "three"),
                 list_json("l4", "four"), list_json("l5", "five")};
      a.segments = {
          R"({"id":"s1","name":"engaged","contacts_count":12,"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-02T00:00:00Z","sample_updated_at":"2024-01-03T00:00:00Z","next_sample_update":"2024-01-04T00:00:00Z","parent_list_ids":["l1"],"query_version":"2","status":{"query_validation":"VALID"}})",
          R"({"id":"s2","name":"all","contacts_count":0,"parent_list_ids":[],"query_version":"2","status":{"query_validation":"PENDING","error_message":null}})"};
      a.singlesends = {
          R"({"id":"ss1","name":"launch","status":"draft","categories":["news","launch"],"send_at":null,"is_abtest":false,"abtest":null,"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"})",
          R"({"id":"ss2","name":"weekly","status":"scheduled","categories":[],"send_at":"2024-02-01T10:00:00Z","is_abtest":true,"abtest":{"type":"subject","winner_criteria":"open"},"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-05T00:00:00Z"})",
          R"({"id":"ss3","name":"triggered","status":"triggered","categories":["x"],"is_abtest":false,"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"})"};
    });
  }

  const sgs::sync::collection_result& result_of(const sgs::sync::source_result& r, collection c) {
    for (const auto& x : r.collections) {
      if (x.collection == c) return x;
    }
    throw std::runtime_error("collection not in result");
  }

  backend_under_test b{GetParam()};
};

const std::string export_header =
    "\"EMAIL\",\"FIRST_NAME\",\"LAST_NAME\",\"ADDRESS_LINE_1\",\"CITY\",\"POSTAL_CODE\",\"LIST_"
    "IDS\",\"CREATED_AT\","
    "\"UPDATED_AT\",\"CONTACT_ID\",\"NUM_ORDERS\"\n";

}  // namespace

TEST_P(SyncTest, ListsArePagedThroughFullUrlNextLinksToTheEnd) {
  small_account();
  const auto r = sync({collection::lists});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(q("SELECT count(*) FROM lists"), "5");
  EXPECT_EQ(q("SELECT name || '/' || contact_count || '/' || source_api FROM lists WHERE id='l1'"),
            "one/1/marketing");
  EXPECT_EQ(api.count("/v3/marketing/lists"), 3);  // pages of 2, 2, 1
  const auto reqs = api.requests();
  EXPECT_EQ(reqs.at(1).target, "/v3/marketing/lists?page_size=2&page_token=2");
  EXPECT_EQ(reqs.at(0).headers.at("authorization"), "Bearer SG.test-key");
  EXPECT_EQ(reqs.at(0).headers.count("on-behalf-of"), 0u);
  EXPECT_EQ(
      q("SELECT pages || '/' || rows_seen || '/' || rows_upserted || '/' || status FROM sync_runs"),
      "3/5/5/succeeded");
}

TEST_P(SyncTest, OnBehalfOfHeaderIsSentWhenConfigured) {
  small_account();
  client_options.on_behalf_of = "subuser1";
  ASSERT_TRUE(sync({collection::segments}).all_succeeded());
  EXPECT_EQ(api.requests().at(0).headers.at("on-behalf-of"), "subuser1");
}

TEST_P(SyncTest, SegmentsAndSingleSendsLandInTypedColumns) {
  small_account();
  const auto r = sync({collection::segments, collection::campaigns});
  ASSERT_TRUE(r.all_succeeded());
  EXPECT_EQ(q("SELECT count(*) FROM segments"), "2");
  EXPECT_EQ(q("SELECT parent_list_ids || query_validation || contacts_count || next_sample_update "
              "FROM segments "
              "WHERE id='s1'"),
            R"(["l1"]VALID122024-01-04T00:00:00Z)");
  EXPECT_EQ(q("SELECT count(*) FROM campaigns"), "3");
  EXPECT_EQ(q("SELECT categories || '/' || is_abtest || '/' || abtest || '/' || send_at FROM "
              "campaigns WHERE id='ss2'"),
            R"([]/1/{"type":"subject","winner_criteria":"open"}/2024-02-01T10:00:00Z)");
  EXPECT_EQ(q("SELECT categories || '/' || is_abtest || '/' || coalesce(abtest, 'null') FROM "
              "campaigns WHERE id='ss1'"),
            R"(["news","launch"]/0/null)");
  EXPECT_EQ(api.count("/v3/marketing/singlesends"), 2);
}

TEST_P(SyncTest, ContactExportOfThreeGzipFilesPendingForSeveralPolls) {
  api.edit([](fake_account& a) {
    a.export_pending_polls = 3;
    a.export_files = {
        sgs::test::gzip(
            export_header +
            "\"a@x.com\",\"Ann\",\"Lee\",\"1 Main St, Apt 2\",\"Paris\",\"75001\",\"l1,l2\","
            "\"2021-02-01T12:35:22Z\",\"2021-02-01T12:35:51Z\",\"c1\",\"3\"\n"
            "\"b@x.com\",\"Bob \"\"B\"\"\",,,,,,,,\"c2\",\n"),
        sgs::test::gzip(export_header + "\"c@x.com\",\"multi\nline\",,,,,,,,\"c3\",\"1\"\r\n"),
        sgs::test::gzip(export_header + "\"d@x.com\",,,,,,,,,\"c4\",\n\"no-id@x.com\",,,,,,,,,,\n"),
    };
  });
  const auto r = sync({collection::recipients});
  const auto& rec = result_of(r, collection::recipients);
  ASSERT_EQ(rec.status, run_status::succeeded) << rec.error;
  EXPECT_EQ(q("SELECT count(*) FROM recipients"), "4");
  EXPECT_EQ(q("SELECT email || '|' || first_name || '|' || address_line_1 || '|' || list_ids || "
              "'|' || custom_fields "
              "|| '|' || source_api FROM recipients WHERE id='c1'"),
            R"(a@x.com|Ann|1 Main St, Apt 2|["l1","l2"]|{"NUM_ORDERS":"3"}|marketing)");
  EXPECT_EQ(q("SELECT first_name FROM recipients WHERE id='c2'"), "Bob \"B\"");
  EXPECT_EQ(q("SELECT first_name FROM recipients WHERE id='c3'"), "multi\nline");
  EXPECT_EQ(q("SELECT json_extract(raw, '$.EMAIL') FROM recipients WHERE id='c4'"), "d@x.com");
  EXPECT_EQ(api.count("/v3/marketing/contacts/exports/"), 4);  // 3 pending + ready
  EXPECT_EQ(api.count("/files/"), 3);
  EXPECT_EQ(rec.counts.pages, 3);
  EXPECT_EQ(rec.counts.rows_seen, 4);
  // The export was created with the API key; the files were fetched without it (the fake,
  // like S3, answers 400 to a request carrying Authorization, so success proves it too).
  for (const auto& req : api.requests()) {
    if (req.path.rfind("/files/", 0) == 0) {
      EXPECT_EQ(req.headers.count("authorization"), 0u);
    } else {
      EXPECT_EQ(req.headers.count("authorization"), 1u) << req.path;
    }
  }
  EXPECT_EQ(api.requests().at(0).method, "POST");
  EXPECT_EQ(api.requests().at(0).body, R"({"file_type":"csv"})");
}

// Issue 13: the export job's id is a path segment: percent-encoded, or libcurl refuses the
// URL ("URL using bad/illegal format") and a '/' would make it two segments.
TEST_P(SyncTest, ExportJobIdWithASpaceAndASlashIsPercentEncodedInThePollUrl) {
  api.edit([](fake_account& a) {
    a.export_pending_polls = 1;
    a.export_job_id = "job 1/x";
    a.export_files = {sgs::test::gzip(export_header + "\"a@x.com\",,,,,,,,,\"c1\",\n")};
  });
  const auto r = sync({collection::recipients});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(q("SELECT count(*) FROM recipients"), "1");
  int polls = 0;
  for (const auto& req : api.requests()) {
    if (req.method != "GET" || req.path.rfind("/v3/marketing/contacts/exports/", 0) != 0) continue;
    EXPECT_EQ(req.target, "/v3/marketing/contacts/exports/job%201%2Fx");
    ++polls;
  }
  EXPECT_EQ(polls, 2);
}

// Issue 13: segments were assumed to come in one page; follow _metadata.next when present.
TEST_P(SyncTest, SegmentsFollowMetadataNextLinksWhenPresent) {
  api.edit([](fake_account& a) {
    for (int i = 1; i <= 5; ++i)
      a.segments.push_back(R"({"id":"s)" + std::to_string(i) +
                           R"(","name":"n","contacts_count":1})");
    a.segments_page_size = 2;
  });
  const auto r = sync({collection::segments});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(q("SELECT count(*) FROM segments"), "5");
  EXPECT_EQ(api.count("/v3/marketing/segments/2.0"), 3);
}

TEST_P(SyncTest, UnusableNextLinkFailsNamingTheLink) {
  api.edit([](fake_account& a) {
    for (int i = 1; i <= 3; ++i)
      a.segments.push_back(R"({"id":"s)" + std::to_string(i) +
                           R"(","name":"n","contacts_count":1})");
    a.segments_page_size = 2;
    a.segments_next_link = "page_token=abc";
  });
  const auto r = sync({collection::segments});
  const auto& seg = result_of(r, collection::segments);
  EXPECT_EQ(seg.status, run_status::failed);
  EXPECT_NE(seg.error.find("unusable _metadata.next link \"page_token=abc\""), std::string::npos)
      << seg.error;
  EXPECT_EQ(q("SELECT count(*) FROM segments WHERE deleted_at IS NOT NULL"), "0");
}

TEST_P(SyncTest, NdjsonExportFilesAreParsedToo) {
  api.edit([](fake_account& a) {
    a.export_pending_polls = 0;
    a.export_files = {sgs::test::gzip(
        "{\"contact_id\":\"n1\",\"email\":\"n1@x.com\",\"custom_fields\":{\"tier\":\"gold\"}}\n"
        "{\"contact_id\":\"n2\",\"email\":\"n2@x.com\",\"list_ids\":[\"l9\"]}")};
  });
  const auto r = sync({collection::recipients});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(q("SELECT custom_fields FROM recipients WHERE id='n1'"), R"({"tier":"gold"})");
  EXPECT_EQ(q("SELECT list_ids FROM recipients WHERE id='n2'"), R"(["l9"])");
}

TEST_P(SyncTest, FailedExportJobFailsRecipientsAndTombstonesNothing) {
  api.edit([](fake_account& a) {
    a.export_pending_polls = 0;
    a.export_files = {sgs::test::gzip(export_header + "\"a@x.com\",,,,,,,,,\"c1\",\n")};
  });
  ASSERT_TRUE(sync({collection::recipients}).all_succeeded());
  api.edit([](fake_account& a) { a.export_fails = true; });
  const auto r = sync({collection::recipients});
  EXPECT_EQ(r.collections.at(0).status, run_status::failed);
  EXPECT_NE(r.collections.at(0).error.find("export failed: internal error"), std::string::npos)
      << r.collections.at(0).error;
  EXPECT_EQ(q("SELECT count(*) FROM recipients WHERE deleted_at IS NULL"), "1");
}

TEST_P(SyncTest, ExportOfAnAccountWithoutContactsSucceedsAndTombstonesTheOldOnes) {
  api.edit([](fake_account& a) {
    a.export_pending_polls = 0;
    a.export_files = {sgs::test::gzip(export_header + "\"a@x.com\",,,,,,,,,\"c1\",\n")};
  });
  ASSERT_TRUE(sync({collection::recipients}).all_succeeded());
  api.edit([](fake_account& a) { a.export_files.clear(); });
  EXPECT_TRUE(sync({collection::recipients}).all_succeeded());
  EXPECT_EQ(q("SELECT count(*) FROM recipients WHERE deleted_at IS NOT NULL"), "1");
}

TEST_P(SyncTest, ReadyExportWithoutFilesOrCountFailsAndTombstonesNothing) {
  api.edit([](fake_account& a) {
    a.export_pending_polls = 0;
    a.export_files = {sgs::test::gzip(export_header + "\"a@x.com\",,,,,,,,,\"c1\",\n")};
  });
  ASSERT_TRUE(sync({collection::recipients}).all_succeeded());
  api.edit([](fake_account& a) {
    a.export_files.clear();
    a.export_omits_count = true;
  });
  EXPECT_FALSE(sync({collection::recipients}).all_succeeded());
  EXPECT_EQ(q("SELECT count(*) FROM recipients WHERE deleted_at IS NULL"), "1");
}

TEST_P(SyncTest, LegacyAccountIsDetectedAndSyncedFromContactdbAndCampaigns) {
  api.edit([](fake_account& a) {
    a.legacy = true;
    a.legacy_lists = {R"({"id":1,"name":"the jones","recipient_count":1})",
                      R"({"id":2,"name":"others","recipient_count":4})"};
    a.legacy_segments = {
        R"({"id":1234,"name":"Age segments < 25","list_id":4,"conditions":[{"field":"age","value":"25","operator":"lt","and_or":""}],"recipient_count":8})"};
    for (int i = 1; i <= 5; ++i) {
      a.legacy_campaigns.push_back(
          R"({"id":)" + std::to_string(i) + R"(,"title":"Campaign )" + std::to_string(i) +
          R"(","subject":"Hi","sender_id":7,"list_ids":[1],"segment_ids":[],"categories":["c"],"suppression_group_id":42,"status":"Draft"})");
    }
    for (int i = 1; i <= 5; ++i) {
      a.legacy_recipients.push_back(
          R"({"id":"r)" + std::to_string(i) + R"(","email":"r)" + std::to_string(i) +
          R"(@x.com","created_at":1422313607,"updated_at":1422313790,"last_opened":null,"custom_fields":[{"id":23,"name":"pet","value":"Fluffy","type":"text"}]})");
    }
    a.legacy_empty_pages = {2, 3};  // holes before the end: not the end
  });
  const auto r = sync();
  for (const auto& c : r.collections) EXPECT_EQ(c.status, run_status::succeeded) << c.error;
  EXPECT_EQ(q("SELECT count(*) FROM lists WHERE source_api='legacy'"), "2");
  EXPECT_EQ(q("SELECT name || contact_count FROM lists WHERE id='2'"), "others4");
  EXPECT_EQ(q("SELECT parent_list_ids || contacts_count || json_extract(conditions, "
              "'$[0].operator') FROM segments"),
            "[4]8lt");
  EXPECT_EQ(q("SELECT count(*) FROM campaigns WHERE source_api='legacy'"), "5");
  EXPECT_EQ(q("SELECT name || '/' || subject || '/' || sender_id || '/' || list_ids || '/' || "
              "suppression_group_id "
              "FROM campaigns WHERE id='3'"),
            "Campaign 3/Hi/7/[1]/42");
  EXPECT_EQ(q("SELECT count(*) FROM recipients WHERE source_api='legacy'"), "5");
  EXPECT_EQ(q("SELECT custom_fields || created_at FROM recipients WHERE id='r5'"),
            R"({"pet":"Fluffy"}1422313607)");
  // One 403 on the first marketing call decides it; no other marketing endpoint is asked.
  EXPECT_EQ(api.count("/v3/marketing/"), 1);
  EXPECT_EQ(api.count("/v3/campaigns"), 3);             // limit 2: 2, 2, 1
  EXPECT_EQ(api.count("/v3/contactdb/recipients"), 6);  // 5 pages (2 empty) + the 404
  EXPECT_EQ(q("SELECT group_concat(source_api) FROM sync_runs"), "legacy,legacy,legacy,legacy");
}

// Issue 13: a server that answers every page with objects without ids was read for 100 000
// pages, storing nothing and logging a warning per page.
TEST_P(SyncTest, LegacyRecipientPageAddingNothingNewEndsTheRunAtOnceAsAFailure) {
  api.edit([](fake_account& a) {
    a.legacy = true;
    a.legacy_recipients = {R"({"id":"r1","email":"r1@x.com"})"};
  });
  ASSERT_TRUE(sync({collection::recipients}).all_succeeded());
  fake_response idless;
  idless.body = R"({"recipients":[{}]})";
  api.override_path("/v3/contactdb/recipients", idless);
  const auto started = std::chrono::steady_clock::now();
  const auto r = sync({collection::recipients});
  const auto& rec = result_of(r, collection::recipients);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  EXPECT_EQ(rec.status, run_status::failed);
  EXPECT_NE(rec.error.find("/v3/contactdb/recipients?page=1: added nothing new (1 object(s), "
                           "none with an id)"),
            std::string::npos)
      << rec.error;
  EXPECT_EQ(api.count("/v3/contactdb/recipients"), 3);  // the first sync's 2 + this one page
  EXPECT_EQ(q("SELECT count(*) FROM recipients WHERE deleted_at IS NULL"), "1");
}

TEST_P(SyncTest, LegacyRecipientPageRepeatedForEverEndsTheRunAsAFailure) {
  api.edit([](fake_account& a) { a.legacy = true; });
  fake_response same;
  same.body = R"({"recipients":[{"id":"r1","email":"r1@x.com"},{"id":"r2","email":"r2@x.com"}]})";
  api.override_path("/v3/contactdb/recipients", same);
  const auto r = sync({collection::recipients});
  const auto& rec = result_of(r, collection::recipients);
  EXPECT_EQ(rec.status, run_status::failed);
  EXPECT_NE(rec.error.find("?page=2: the same objects as page 1"), std::string::npos) << rec.error;
  EXPECT_EQ(api.count("/v3/contactdb/recipients"), 2);
  EXPECT_EQ(q("SELECT count(*) FROM recipients"), "2");  // page 1 is kept, once
}

TEST_P(SyncTest, ObjectsWithoutIdsAreWarnedAboutOncePerMinuteNotOncePerPage) {
  api.edit(
      [](fake_account& a) { a.lists = {"{}", "{}", "{}", "{}", "{}", list_json("l1", "one")}; });
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  const auto r = sync({collection::lists});
  spdlog::set_default_logger(previous);
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(api.count("/v3/marketing/lists"), 3);
  const std::string text = log.str();
  std::size_t warnings = 0;
  for (auto at = text.find("without an id were skipped"); at != std::string::npos;
       at = text.find("without an id were skipped", at + 1))
    ++warnings;
  EXPECT_EQ(warnings, 1u) << text;
  EXPECT_EQ(q("SELECT count(*) FROM lists"), "1");
}

TEST_P(SyncTest, RateLimitWithEpochResetWaitsUntilTheReset) {
  small_account();
  fake_response limited;
  limited.status = 429;
  limited.body = sgs::test::sendgrid_429_body;
  limited.headers["X-RateLimit-Limit"] = "150";
  limited.headers["X-RateLimit-Remaining"] = "0";
  limited.headers["X-RateLimit-Reset"] = std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(fixed_now.time_since_epoch()).count() + 7);
  api.inject("/v3/marketing/lists", limited);
  const auto r = sync({collection::lists});
  ASSERT_TRUE(r.all_succeeded());
  EXPECT_EQ(waits, std::vector<std::chrono::milliseconds>{7000ms});
  EXPECT_EQ(r.collections.at(0).counts.rate_limit_waits, 1);
  EXPECT_EQ(q("SELECT rate_limit_waits || '/' || http_retries FROM sync_runs"), "1/0");
  EXPECT_EQ(q("SELECT count(*) FROM lists"), "5");
}

TEST_P(SyncTest, RateLimitWithSecondsResetWaitsThatManySeconds) {
  small_account();
  fake_response limited;
  limited.status = 429;
  limited.body = sgs::test::sendgrid_429_body;
  limited.headers["X-RateLimit-Reset"] = "3";
  limited.headers["X-Envoy-Ratelimited"] = "true";
  api.inject("/v3/marketing/segments", limited);
  api.inject("/v3/marketing/segments", limited);
  const auto r = sync({collection::segments});
  ASSERT_TRUE(r.all_succeeded());
  EXPECT_EQ(waits, (std::vector<std::chrono::milliseconds>{3000ms, 3000ms}));
  EXPECT_EQ(q("SELECT rate_limit_waits FROM sync_runs"), "2");
}

TEST_P(SyncTest, ServerErrorThenSuccessIsRetriedWithBackoff) {
  small_account();
  fake_response error;
  error.status = 500;
  error.body = R"({"errors":[{"field":null,"message":"internal error"}]})";
  api.inject("/v3/marketing/singlesends", error);
  const auto r = sync({collection::campaigns});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(q("SELECT http_retries || '/' || rows_seen FROM sync_runs"), "1/3");
  ASSERT_EQ(waits.size(), 1u);
  EXPECT_LE(waits[0], policy.backoff_cap);
}

TEST_P(SyncTest, PersistentServerErrorsGiveUpAndOtherCollectionsStillRun) {
  small_account();
  fake_response error;
  error.status = 503;
  error.body = "upstream unavailable";
  api.override_path("/v3/marketing/segments", error);
  const auto r = sync({collection::lists, collection::segments, collection::campaigns});
  EXPECT_EQ(result_of(r, collection::lists).status, run_status::succeeded);
  EXPECT_EQ(result_of(r, collection::campaigns).status, run_status::succeeded);
  const auto& seg = result_of(r, collection::segments);
  EXPECT_EQ(seg.status, run_status::failed);
  EXPECT_EQ(seg.error,
            "HTTP 503 from GET /v3/marketing/segments/2.0: upstream unavailable (gave up after 3 "
            "attempts)");
  EXPECT_EQ(api.count("/v3/marketing/segments"), 3);
  EXPECT_FALSE(r.all_succeeded());
}

TEST_P(SyncTest, ResponseSlowerThanTheTimeoutIsRetried) {
  small_account();
  client_options.request_timeout = 100ms;
  fake_response slow;
  slow.delay = 400ms;
  slow.body = R"({"results":[]})";
  api.inject("/v3/marketing/segments", slow);
  const auto started = std::chrono::steady_clock::now();
  const auto r = sync({collection::segments});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_EQ(q("SELECT count(*) FROM segments"), "2");  // the retry got the real answer
  EXPECT_EQ(r.collections.at(0).counts.http_retries, 1);
}

TEST_P(SyncTest, MalformedJsonFailsOnlyThatCollection) {
  small_account();
  fake_response bad;
  bad.body = R"({"results":[{"id":"s1",)";
  api.override_path("/v3/marketing/segments", bad);
  const auto r = sync({collection::lists, collection::segments});
  EXPECT_EQ(result_of(r, collection::lists).status, run_status::succeeded);
  const auto& seg = result_of(r, collection::segments);
  EXPECT_EQ(seg.status, run_status::failed);
  EXPECT_NE(seg.error.find("not valid JSON"), std::string::npos) << seg.error;
  EXPECT_EQ(q("SELECT status || ':' || error FROM sync_runs WHERE collection='segments'"),
            "failed:" + seg.error);
}

TEST_P(SyncTest, RejectedKey401StopsTheSourceAndSaysWhatToDo) {
  small_account();
  client_options.api_key = "SG.revoked";
  const auto r = sync();
  ASSERT_EQ(r.collections.size(), 4u);
  EXPECT_EQ(r.collections[0].status, run_status::failed);
  EXPECT_EQ(r.collections[0].error,
            "the API key for source 'default' was rejected (401): create a key under Settings > "
            "API Keys and set "
            "api_key_file (SendGrid said: The provided authorization grant is invalid, expired, or "
            "revoked)");
  for (std::size_t i = 1; i < 4; ++i) EXPECT_EQ(r.collections[i].status, run_status::skipped);
  EXPECT_EQ(r.fatal_error, r.collections[0].error);
  EXPECT_EQ(api.requests().size(), 1u);  // nothing else was tried with a rejected key
  EXPECT_EQ(q("SELECT group_concat(status) FROM sync_runs"), "failed,skipped,skipped,skipped");
}

TEST_P(SyncTest, Forbidden403OnBothApisNamesBothPermissions) {
  small_account();
  fake_response forbidden;
  forbidden.status = 403;
  forbidden.body = sgs::test::sendgrid_403_body;
  api.override_path("/v3/marketing/", forbidden);  // and the fake's contactdb answers 403 too
  const auto r = sync();
  EXPECT_EQ(r.collections[0].status, run_status::failed);
  const auto& e = r.collections[0].error;
  EXPECT_NE(e.find("the API key for source 'default' is not allowed to read lists"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("give the key the 'marketing.read' (Marketing Campaigns) or "
                   "'marketing_campaigns.read' (Legacy "
                   "Marketing Campaigns) permission under Settings > API Keys"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("(SendGrid said: access forbidden)"), std::string::npos) << e;
  EXPECT_EQ(r.collections[3].status, run_status::skipped);
  EXPECT_EQ(api.requests().size(), 2u);
}

TEST_P(SyncTest, SecondSyncTombstonesDeletedObjectsAndUpdatesRenamedOnes) {
  small_account();
  api.edit([](fake_account& a) {
    a.export_pending_polls = 0;
    a.export_files = {sgs::test::gzip(
        export_header + "\"a@x.com\",\"A\",,,,,,,,\"c1\",\n\"b@x.com\",\"B\",,,,,,,,\"c2\",\n")};
  });
  ASSERT_TRUE(sync().all_succeeded());
  api.edit([](fake_account& a) {
    a.lists.erase(a.lists.begin() + 1);              // l2 deleted
    a.lists[0] = list_json("l1", "one renamed", 1);  // l1 renamed
    a.singlesends.pop_back();                        // ss3 deleted
    a.export_files = {
        sgs::test::gzip(export_header + "\"a@x.com\",\"A2\",,,,,,,,\"c1\",\n")};  // c2 deleted
  });
  const auto r = sync();
  ASSERT_TRUE(r.all_succeeded());
  EXPECT_EQ(q("SELECT count(*) FROM lists"), "5");  // rows are never deleted
  EXPECT_EQ(q("SELECT group_concat(id) FROM lists WHERE deleted_at IS NOT NULL"), "l2");
  EXPECT_EQ(q("SELECT name || coalesce(deleted_at, '-') FROM lists WHERE id='l1'"), "one renamed-");
  EXPECT_EQ(q("SELECT group_concat(id) FROM campaigns WHERE deleted_at IS NOT NULL"), "ss3");
  EXPECT_EQ(q("SELECT group_concat(id) FROM recipients WHERE deleted_at IS NOT NULL"), "c2");
  EXPECT_EQ(q("SELECT first_name FROM recipients WHERE id='c1'"), "A2");
  EXPECT_EQ(result_of(r, collection::lists).counts.rows_upserted, 1);
  EXPECT_EQ(result_of(r, collection::lists).counts.rows_tombstoned, 1);
  EXPECT_EQ(q("SELECT rows_tombstoned FROM sync_runs WHERE collection='recipients' ORDER BY id "
              "DESC LIMIT 1"),
            "1");

  // l2 comes back: revived.
  api.edit([](fake_account& a) { a.lists.push_back(list_json("l2", "two")); });
  ASSERT_TRUE(sync({collection::lists}).all_succeeded());
  EXPECT_EQ(q("SELECT count(*) FROM lists WHERE deleted_at IS NOT NULL"), "0");
}

TEST_P(SyncTest, FailedRunMidwayTombstonesNothing) {
  small_account();
  ASSERT_TRUE(sync({collection::lists}).all_succeeded());
  api.edit([](fake_account& a) { a.lists.erase(a.lists.begin()); });  // l1 gone
  fake_response error;
  error.status = 500;
  // Page 1 is answered; every later request fails: the run is partial.
  api.inject(
      "/v3/marketing/lists",
      fake_response{200,
                    R"({"result":[)" + list_json("l2", "two") + "," + list_json("l3", "three") +
                        R"(],"_metadata":{"next":")" + api.base_url() +
                        R"(/v3/marketing/lists?page_size=2&page_token=2"}})",
                    {},
                    "application/json",
                    0ms});
  api.override_path("/v3/marketing/lists", error);
  const auto r = sync({collection::lists});
  EXPECT_EQ(r.collections.at(0).status, run_status::failed);
  EXPECT_EQ(q("SELECT count(*) FROM lists WHERE deleted_at IS NOT NULL"), "0");
  EXPECT_EQ(q("SELECT rows_tombstoned FROM sync_runs ORDER BY id DESC LIMIT 1"), "0");
}

TEST_P(SyncTest, SameRunTwiceGivesNoDuplicateRowsAndWritesNothing) {
  small_account();
  api.edit([](fake_account& a) {
    a.export_pending_polls = 0;
    a.export_files = {sgs::test::gzip(export_header + "\"a@x.com\",\"A\",,,,,,,,\"c1\",\n")};
  });
  ASSERT_TRUE(sync().all_succeeded());
  const auto second = sync();
  ASSERT_TRUE(second.all_succeeded());
  EXPECT_EQ(q("SELECT count(*) FROM lists"), "5");
  EXPECT_EQ(q("SELECT count(*) FROM segments"), "2");
  EXPECT_EQ(q("SELECT count(*) FROM campaigns"), "3");
  EXPECT_EQ(q("SELECT count(*) FROM recipients"), "1");
  for (const auto& c : second.collections) {
    EXPECT_EQ(c.counts.rows_upserted, 0) << sgs::store::collection_name(c.collection);
    EXPECT_EQ(c.counts.rows_tombstoned, 0);
  }
  EXPECT_EQ(q("SELECT count(*) FROM sync_runs WHERE status='succeeded'"), "8");
  EXPECT_EQ(q("SELECT count(DISTINCT run_id) FROM sync_runs"),
            "1");  // the fixed clock: same run id text
}

TEST_P(SyncTest, StopRequestedEndsTheRunWithoutTombstones) {
  small_account();
  ASSERT_TRUE(sync({collection::lists}).all_succeeded());
  api.edit([](fake_account& a) { a.lists.clear(); });
  std::stop_source stop;
  stop.request_stop();
  options.stop = stop.get_token();
  const auto r = sync();
  for (const auto& c : r.collections) EXPECT_EQ(c.status, run_status::stopped);
  EXPECT_EQ(q("SELECT count(*) FROM lists WHERE deleted_at IS NOT NULL"), "0");
}

TEST_P(SyncTest, RunSourceSyncOpensItsOwnStoreAndClient) {
  small_account();
  sgs::sync::source_sync_request req;
  req.source.name = b.source();
  req.source.api_base = api.base_url();
  req.api_key = "SG.test-key";
  req.open_store = [this] { return b.backend().open_object_store(b.source()); };
  req.options = options;
  req.options.collections = {collection::lists};
  req.retry = policy;
  const auto r = sgs::sync::run_source_sync(req);
  ASSERT_TRUE(r.all_succeeded()) << r.fatal_error;
  EXPECT_EQ(r.source, b.source());  // the run is of the source the request names
  EXPECT_EQ(q("SELECT count(*) FROM lists"), "5");
}

// Faults in the middle of a run (issue 6): the API failing mid-export and mid-pagination, and
// rate limits there. A broken run may keep what it received but never tombstones; the next
// run completes without duplicates.
namespace {

std::string contacts_csv(int first, int last) {
  std::string csv = export_header;
  for (int i = first; i <= last; ++i) {
    csv += "\"c" + std::to_string(i) + "@x.com\",\"N" + std::to_string(i) + "\",,,,,,,,\"c" +
           std::to_string(i) + "\",\n";
  }
  return csv;
}

// Three export files of 10 contacts each: c1..c10, c11..c20, c21..c30.
std::vector<std::string> three_export_files() {
  return {sgs::test::gzip(contacts_csv(1, 10)), sgs::test::gzip(contacts_csv(11, 20)),
          sgs::test::gzip(contacts_csv(21, 30))};
}

}  // namespace

TEST_P(SyncTest, ExportFileFailingMidExportTombstonesNothingAndTheNextRunCompletes) {
  api.edit([](fake_account& a) {
    a.export_pending_polls = 0;
    a.export_files = three_export_files();
  });
  ASSERT_TRUE(sync({collection::recipients}).all_succeeded());
  // c30 is deleted in SendGrid; the second file fails on every attempt of this run.
  api.edit([](fake_account& a) { a.export_files[2] = sgs::test::gzip(contacts_csv(21, 29)); });
  fake_response error{500,
                      R"({"errors":[{"field":null,"message":"internal error"}]})",
                      {},
                      "application/json",
                      0ms};
  for (int i = 0; i < policy.max_attempts; ++i) api.inject("/files/1", error);
  const int third_file_fetches = api.count("/files/2");
  const auto broken = sync({collection::recipients});
  const auto& rec = result_of(broken, collection::recipients);
  EXPECT_EQ(rec.status, run_status::failed);
  EXPECT_NE(rec.error.find("download of export file 2/3 failed: HTTP 500"), std::string::npos)
      << rec.error;
  EXPECT_EQ(rec.counts.http_retries, policy.max_attempts - 1);
  EXPECT_EQ(api.count("/files/2"), third_file_fetches);  // the run stopped at the failing file
  EXPECT_EQ(q("SELECT count(*) FROM recipients WHERE deleted_at IS NOT NULL"), "0");
  EXPECT_EQ(q("SELECT status || '/' || rows_tombstoned FROM sync_runs ORDER BY id DESC LIMIT 1"),
            "failed/0");

  const auto next = sync({collection::recipients});
  ASSERT_TRUE(next.all_succeeded()) << next.collections.at(0).error;
  EXPECT_EQ(q("SELECT count(*) || '/' || count(DISTINCT id) || '/' || count(DISTINCT email) FROM "
              "recipients"),
            "30/30/30");
  EXPECT_EQ(q("SELECT group_concat(id) FROM recipients WHERE deleted_at IS NOT NULL"), "c30");
}

TEST_P(SyncTest, ExportFileCutOffMidStreamIsNotRetriedAndTombstonesNothing) {
  api.edit([](fake_account& a) {
    a.export_pending_polls = 0;
    a.export_files = three_export_files();
  });
  ASSERT_TRUE(sync({collection::recipients}).all_succeeded());
  api.edit([](fake_account& a) {
    a.export_files[2] = sgs::test::gzip(contacts_csv(21, 29));  // c30 deleted
    // The second file ends half-way, as when the storage server drops the connection.
    a.export_files[1] = a.export_files[1].substr(0, a.export_files[1].size() / 2);
  });
  const int second_file_fetches = api.count("/files/1");
  const auto broken = sync({collection::recipients});
  const auto& rec = result_of(broken, collection::recipients);
  EXPECT_EQ(rec.status, run_status::failed);
  EXPECT_NE(rec.error.find("export file 2/3"), std::string::npos) << rec.error;
  // Rows were already staged from it: a retry could stage them twice, so there is none.
  EXPECT_EQ(api.count("/files/1"), second_file_fetches + 1);
  EXPECT_EQ(q("SELECT count(*) FROM recipients WHERE deleted_at IS NOT NULL"), "0");
  EXPECT_EQ(q("SELECT rows_tombstoned FROM sync_runs ORDER BY id DESC LIMIT 1"), "0");

  api.edit([](fake_account& a) { a.export_files[1] = sgs::test::gzip(contacts_csv(11, 20)); });
  ASSERT_TRUE(sync({collection::recipients}).all_succeeded());
  EXPECT_EQ(q("SELECT count(*) || '/' || count(DISTINCT id) FROM recipients"), "30/30");
  EXPECT_EQ(q("SELECT group_concat(id) FROM recipients WHERE deleted_at IS NOT NULL"), "c30");
}

TEST_P(SyncTest, RateLimitMidPaginationWaitsThenFetchesTheSamePageAgain) {
  small_account();
  // Page 1 is answered, page 2 is rate limited for 2 s, then answered.
  api.inject(
      "/v3/marketing/lists",
      fake_response{200,
                    R"({"result":[)" + list_json("l1", "one", 1) + "," + list_json("l2", "two") +
                        R"(],"_metadata":{"next":")" + api.base_url() +
                        R"(/v3/marketing/lists?page_size=2&page_token=2"}})",
                    {},
                    "application/json",
                    0ms});
  fake_response limited{
      429, std::string(sgs::test::sendgrid_429_body), {}, "application/json", 0ms};
  limited.headers["X-RateLimit-Reset"] = "2";
  api.inject("/v3/marketing/lists", limited);
  const auto r = sync({collection::lists});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(waits, std::vector<std::chrono::milliseconds>{2000ms});
  const auto reqs = api.requests();
  ASSERT_EQ(reqs.size(), 4u);  // page 1, page 2 (429), page 2 again, page 3
  EXPECT_EQ(reqs[1].target, reqs[2].target);
  EXPECT_EQ(reqs[2].query("page_token"), "2");
  EXPECT_EQ(q("SELECT count(*) || '/' || count(DISTINCT id) FROM lists"), "5/5");
  EXPECT_EQ(q("SELECT status || '/' || pages || '/' || rate_limit_waits FROM sync_runs"),
            "succeeded/3/1");
}

TEST_P(SyncTest, RateLimitWhilePollingTheExportWaitsAndTheExportCompletes) {
  api.edit([](fake_account& a) {
    a.export_pending_polls = 1;
    a.export_files = three_export_files();
  });
  fake_response limited{
      429, std::string(sgs::test::sendgrid_429_body), {}, "application/json", 0ms};
  limited.headers["X-RateLimit-Reset"] = "2";
  api.inject("/v3/marketing/contacts/exports/", limited);
  const auto r = sync({collection::recipients});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_NE(std::find(waits.begin(), waits.end(), 2000ms), waits.end());
  EXPECT_EQ(api.count("/v3/marketing/contacts/exports"), 4);  // create, 429, pending, ready
  EXPECT_EQ(q("SELECT count(*) FROM recipients"), "30");
  EXPECT_EQ(q("SELECT rate_limit_waits FROM sync_runs"), "1");
}

INSTANTIATE_TEST_SUITE_P(Backends, SyncTest,
                         ::testing::Values(backend_kind::sqlite, backend_kind::postgresql),
                         sgs::test::backend_name{});
