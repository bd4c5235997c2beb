// The account collections (issue 16) end to end: the real sync and libcurl client against the
// fake SendGrid API on 127.0.0.1, a real SQLite file. For each collection: a first sync, a
// change or removal in the fake, a second sync -> rows updated, removed ones tombstoned,
// sync_runs exact; a key lacking a scope -> that collection skipped, the others succeed.
#include "sync/collections/account_sync.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <mutex>

#include "fake_sendgrid.hpp"
#include "sendgrid/client.hpp"
#include "sendgrid/session.hpp"
#include "store/event_columns.hpp"
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

namespace {

// 2026-01-01T00:00:00Z.
const auto jan_1 = std::chrono::system_clock::time_point(1767225600s);
constexpr long long jan_1_unix = 1767225600;

const std::vector<std::string> every_scope = {
    "marketing.read", "suppression.read",      "asm.groups.read",     "templates.read",
    "stats.read",     "categories.stats.read", "email_activity.read", "whitelabel.read"};

std::string suppression(
    const std::string& email, long long created,
    const std::string& extra = R"("reason":"550 no such user","status":"5.1.1")") {
  return R"({"created":)" + std::to_string(created) + R"(,"email":")" + email + "\"" +
         (extra.empty() ? "" : "," + extra) + "}";
}

std::string metrics(int delivered, int bounces = 0) {
  return R"({"blocks":0,"bounce_drops":0,"bounces":)" + std::to_string(bounces) +
         R"(,"clicks":1,"deferred":0,"delivered":)" + std::to_string(delivered) +
         R"(,"invalid_emails":0,"opens":2,"processed":10,"requests":10,"spam_report_drops":0,"spam_reports":0,"unique_clicks":1,"unique_opens":2,"unsubscribe_drops":0,"unsubscribes":0})";
}

std::string message(int i, const std::string& time, const std::string& status = "delivered") {
  return R"({"from_email":"news@example.com","msg_id":"msg-)" + std::to_string(i) +
         R"(","subject":"Hello","to_email":"r)" + std::to_string(i) +
         R"(@example.com","status":")" + status +
         R"(","opens_count":1,"clicks_count":0,"last_event_time":")" + time + "\"}";
}

// The account collections' sync on every store backend (SQLite, PostgreSQL; queries as in
// sync_test.cpp). The views' tests below too.
class AccountSyncFixture : public sgs::test::sync_fixture {
 protected:
  void SetUp() override {
    SGS_REQUIRE_BACKEND(b);
    store = b.backend().open_object_store(b.source());
  }
  explicit AccountSyncFixture(backend_kind kind) : b(kind) {
    // More room than the sync tests' 2 s for the larger answers here (messages windows of
    // 1000 rows) on a loaded machine.
    client_options.request_timeout = 5000ms;
    options.suppression_page_size = 2;
    options.template_page_size = 2;
    options.verified_sender_page_size = 2;
    options.marketing_stats_page_size = 2;
    options.category_page_size = 2;
    options.stats_backfill_days = 10;
    options.stats_chunk_days = 4;
    options.messages_request_interval = 0ms;
    api.edit([](fake_account& a) { a.scopes = every_scope; });
  }

  sgs::sync::source_result sync(std::vector<collection> only) { return run_sync(std::move(only)); }

  // On PostgreSQL the tables are read through views with JSON and times as text.
  std::string q(const std::string& sql) { return b.query_as_text(sql); }

  // The newest sync_runs row of a collection: pages/rows_seen/upserted/tombstoned/status.
  std::string last_run(const std::string& c) {
    return q(
        "SELECT pages || '/' || rows_seen || '/' || rows_upserted || '/' || rows_tombstoned "
        "|| '/' || status FROM sync_runs WHERE collection='" +
        c + "' ORDER BY id DESC LIMIT 1");
  }

  backend_under_test b;
};

class AccountSyncTest : public AccountSyncFixture,
                        public ::testing::WithParamInterface<backend_kind> {
 protected:
  AccountSyncTest() : AccountSyncFixture(GetParam()) {}
};

struct suppression_case {
  collection c;
  std::string table;
  std::string path;
  std::vector<std::string> fake_account::*items;
};

void PrintTo(const suppression_case& c, std::ostream* os) { *os << c.table; }

// Each suppression collection on each backend.
class SuppressionSync
    : public AccountSyncFixture,
      public ::testing::WithParamInterface<std::tuple<suppression_case, backend_kind>> {
 protected:
  SuppressionSync() : AccountSyncFixture(std::get<1>(GetParam())) {}
};

// First run reconciles (full read), the next runs are incremental (new rows only, nothing
// tombstoned), and the next reconcile tombstones what SendGrid no longer lists.
TEST_P(SuppressionSync, IncrementalEveryRunAndRemovalsTombstonedAtTheNextReconcile) {
  const auto& p = std::get<0>(GetParam());
  api.edit([&](fake_account& a) {
    (a.*p.items) = {suppression("a@example.com", jan_1_unix - 5000),
                    suppression("b@example.com", jan_1_unix - 4000),
                    suppression("c@example.com", jan_1_unix - 3000),
                    suppression("d@example.com", jan_1_unix - 2000),
                    suppression("e@example.com", jan_1_unix - 1000)};
  });
  auto r = sync({p.c});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(q("SELECT count(*) FROM " + p.table + " WHERE deleted_at IS NULL"), "5");
  EXPECT_EQ(q("SELECT created FROM " + p.table + " WHERE id='c@example.com'"),
            std::to_string(jan_1_unix - 3000));
  EXPECT_EQ(last_run(p.table), "3/5/5/0/succeeded");  // pages of 2, 2, 1
  // The full read has no time filter.
  auto reqs = api.requests();
  EXPECT_EQ(reqs.back().target.find("start_time"), std::string::npos) << reqs.back().target;

  // Someone removes b and adds f an hour later.
  now = jan_1 + 1h;
  api.edit([&](fake_account& a) {
    (a.*p.items).erase((a.*p.items).begin() + 1);
    (a.*p.items).push_back(suppression("f@example.com", jan_1_unix + 1800));
  });
  r = sync({p.c});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  // Incremental: from the newest created seen minus the overlap (1 h), to now.
  reqs = api.requests();
  EXPECT_NE(reqs.back().target.find("start_time=" + std::to_string(jan_1_unix - 1000 - 3600) +
                                    "&end_time=" + std::to_string(jan_1_unix + 3600)),
            std::string::npos)
      << reqs.back().target;
  // c, d, e (within the overlap, unchanged: not rewritten) and f (new), in pages of 2.
  EXPECT_EQ(last_run(p.table), "3/4/1/0/succeeded");  // 2 + 2 + the empty page that ends it
  EXPECT_EQ(q("SELECT count(*) FROM " + p.table + " WHERE deleted_at IS NULL"), "6");

  // A day later the reconcile sees that b is gone.
  now = jan_1 + 25h;
  r = sync({p.c});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(last_run(p.table), "3/5/0/1/succeeded");
  EXPECT_EQ(q("SELECT deleted_at IS NOT NULL FROM " + p.table + " WHERE id='b@example.com'"), "1");
  EXPECT_EQ(q("SELECT count(*) FROM " + p.table + " WHERE deleted_at IS NULL"), "5");

  // b is suppressed again: the incremental run revives it at once.
  now = jan_1 + 26h;
  api.edit([&](fake_account& a) {
    (a.*p.items).push_back(suppression("b@example.com", jan_1_unix + 25 * 3600 + 60));
  });
  r = sync({p.c});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(q("SELECT deleted_at IS NULL FROM " + p.table + " WHERE id='b@example.com'"), "1");
}

INSTANTIATE_TEST_SUITE_P(
    AccountSync, SuppressionSync,
    ::testing::Combine(
        ::testing::Values(
            suppression_case{collection::bounces, "bounces", "/v3/suppression/bounces",
                             &fake_account::bounces},
            suppression_case{collection::blocks, "blocks", "/v3/suppression/blocks",
                             &fake_account::blocks},
            suppression_case{collection::spam_reports, "spam_reports",
                             "/v3/suppression/spam_reports", &fake_account::spam_reports},
            suppression_case{collection::invalid_emails, "invalid_emails",
                             "/v3/suppression/invalid_emails", &fake_account::invalid_emails},
            suppression_case{collection::global_unsubscribes, "global_unsubscribes",
                             "/v3/suppression/unsubscribes", &fake_account::global_unsubscribes}),
        ::testing::Values(backend_kind::sqlite, backend_kind::postgresql)),
    [](const auto& info) {
      return std::get<0>(info.param).table + "_" +
             sgs::test::backend_label(std::get<1>(info.param));
    });

TEST_P(AccountSyncTest, BouncesAreAskedForWithAcceptJsonAndLandInTypedColumns) {
  api.edit([](fake_account& a) {
    a.bounces = {suppression("x@example.com", 1700000000)};
    a.spam_reports = {suppression("y@example.com", 1700000001, R"("ip":"10.0.0.1")")};
  });
  const auto r = sync({collection::bounces, collection::spam_reports});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  for (const auto& req : api.requests()) {
    if (req.path == "/v3/suppression/bounces") {
      EXPECT_EQ(req.headers.at("accept"), "application/json");
    }
  }
  EXPECT_EQ(q("SELECT email || '|' || created || '|' || reason || '|' || status || '|' || "
              "source_api FROM bounces"),
            "x@example.com|1700000000|550 no such user|5.1.1|v3");
  EXPECT_EQ(q("SELECT ip FROM spam_reports"), "10.0.0.1");
}

TEST_P(AccountSyncTest, UnsubscribeGroupsAndTheirMembersAreTombstonedWhenRemoved) {
  api.edit([](fake_account& a) {
    a.groups = {{1, "Weekly News"}, {2, "Offers"}};
    a.group_members = {{1, {"a@example.com", "b@example.com"}}, {2, {"a@example.com"}}};
  });
  auto r = sync({collection::unsubscribe_groups, collection::group_suppressions});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error << r.collections.at(1).error;
  EXPECT_EQ(q("SELECT name || '|' || is_default || '|' || unsubscribes FROM unsubscribe_groups "
              "WHERE id='2'"),
            "Offers|0|0");
  EXPECT_EQ(q("SELECT group_concat(id, ',') FROM (SELECT id FROM group_suppressions ORDER BY id)"),
            "1:a@example.com,1:b@example.com,2:a@example.com");
  EXPECT_EQ(q("SELECT group_id || '|' || email FROM group_suppressions WHERE id='1:b@example.com'"),
            "1|b@example.com");
  EXPECT_EQ(last_run("unsubscribe_groups"), "1/2/2/0/succeeded");
  EXPECT_EQ(last_run("group_suppressions"), "3/3/3/0/succeeded");

  api.edit([](fake_account& a) {
    a.groups = {{1, "Weekly News (renamed)"}};
    a.group_members = {{1, {"a@example.com"}}};
  });
  r = sync({collection::unsubscribe_groups, collection::group_suppressions});
  ASSERT_TRUE(r.all_succeeded());
  EXPECT_EQ(last_run("unsubscribe_groups"), "1/1/1/1/succeeded");
  EXPECT_EQ(last_run("group_suppressions"), "2/1/0/2/succeeded");
  EXPECT_EQ(q("SELECT name FROM unsubscribe_groups WHERE id='1'"), "Weekly News (renamed)");
  EXPECT_EQ(q("SELECT count(*) FROM group_suppressions WHERE deleted_at IS NOT NULL"), "2");
}

std::string template_json(const std::string& id, const std::string& gen, const std::string& vname,
                          const std::string& updated = "2020-11-12 12:00:09") {
  return R"({"id":")" + id + R"(","name":"T )" + id + R"(","generation":")" + gen +
         R"(","updated_at":")" + updated + R"(","versions":[{"id":"v-)" + id +
         R"(","template_id":")" + id + R"(","active":1,"name":")" + vname +
         R"(","subject":"{{subject}}","updated_at":")" + updated +
         R"(","generate_plain_content":true,"editor":"code","thumbnail_url":"https://x/t.png"}]})";
}

TEST_P(AccountSyncTest, TemplatesAndVersionsArePagedAndTheirSpaceSeparatedTimesMadeIso) {
  api.edit([](fake_account& a) {
    a.templates = {template_json("t1", "legacy", "one"), template_json("t2", "dynamic", "two"),
                   template_json("t3", "dynamic", "three")};
  });
  auto r = sync({collection::templates, collection::template_versions});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error << r.collections.at(1).error;
  EXPECT_EQ(q("SELECT name || '|' || generation || '|' || updated_at || '|' || version_count FROM "
              "templates WHERE id='t2'"),
            "T t2|dynamic|2020-11-12T12:00:09Z|1");
  EXPECT_EQ(q("SELECT template_id || '|' || name || '|' || active || '|' || updated_at || '|' || "
              "generate_plain_content FROM template_versions WHERE id='v-t3'"),
            "t3|three|1|2020-11-12T12:00:09Z|1");
  EXPECT_EQ(q("SELECT json_extract(raw, '$.updated_at') FROM templates WHERE id='t1'"),
            "2020-11-12 12:00:09");
  EXPECT_EQ(last_run("templates"), "2/3/3/0/succeeded");
  const auto reqs = api.requests();
  EXPECT_NE(reqs.at(2).target.find("page_token=2"), std::string::npos) << reqs.at(2).target;

  api.edit([](fake_account& a) {
    a.templates = {template_json("t1", "legacy", "one"),
                   template_json("t2", "dynamic", "two v2", "2021-01-01 00:00:00")};
  });
  r = sync({collection::templates, collection::template_versions});
  ASSERT_TRUE(r.all_succeeded());
  EXPECT_EQ(last_run("templates"), "1/2/1/1/succeeded");
  EXPECT_EQ(last_run("template_versions"), "1/2/1/1/succeeded");
  EXPECT_EQ(q("SELECT name FROM template_versions WHERE id='v-t2'"), "two v2");
  EXPECT_EQ(q("SELECT deleted_at IS NOT NULL FROM template_versions WHERE id='v-t3'"), "1");
}

std::string verified_sender(int id, const std::string& email) {
  return R"({"id":)" + std::to_string(id) + R"(,"nickname":"n","from_email":")" + email +
         R"(","from_name":"F","reply_to":"r@example.com","reply_to_name":"R","address":"1 St","city":"X","state":"Y","zip":"1","country":"Z","verified":true,"locked":false})";
}

TEST_P(AccountSyncTest, SendersAndVerifiedSendersWithLastSeenIdPaging) {
  api.edit([](fake_account& a) {
    a.marketing_senders = {
        R"({"id":7,"nickname":"main","from":{"email":"news@example.com","name":"News"},"reply_to":{"email":"help@example.com","name":"Help"},"address":"1 Main St","city":"Town","country":"US","verified":{"status":true,"reason":null},"locked":false,"created_at":1600000000,"updated_at":1600000001})"};
    a.verified_senders = {verified_sender(10, "a@example.com"),
                          verified_sender(11, "b@example.com"),
                          verified_sender(12, "c@example.com")};
  });
  auto r = sync({collection::senders, collection::verified_senders});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error << r.collections.at(1).error;
  EXPECT_EQ(q("SELECT from_email || '|' || from_name || '|' || reply_to_email || '|' || "
              "verified_status || '|' || locked || '|' || source_api FROM senders WHERE id='7'"),
            "news@example.com|News|help@example.com|1|0|marketing");
  EXPECT_EQ(q("SELECT count(*) FROM verified_senders"), "3");
  EXPECT_EQ(last_run("verified_senders"), "2/3/3/0/succeeded");
  bool saw_last_seen = false;
  for (const auto& req : api.requests())
    saw_last_seen = saw_last_seen || req.target == "/v3/verified_senders?limit=2&lastSeenID=11";
  EXPECT_TRUE(saw_last_seen);

  api.edit([](fake_account& a) {
    a.verified_senders.erase(a.verified_senders.begin());
    a.marketing_senders.clear();
  });
  r = sync({collection::senders, collection::verified_senders});
  ASSERT_TRUE(r.all_succeeded());
  EXPECT_EQ(last_run("verified_senders"), "2/2/0/1/succeeded");  // a full page, then an empty one
  EXPECT_EQ(last_run("senders"), "1/0/0/1/succeeded");
  EXPECT_EQ(q("SELECT deleted_at IS NOT NULL FROM verified_senders WHERE id='10'"), "1");
}

TEST_P(AccountSyncTest, FieldDefinitionsNameTheCustomFields) {
  api.edit([](fake_account& a) {
    a.field_definitions =
        R"({"custom_fields":[{"id":"w1","name":"num_orders","field_type":"Number"},{"id":"w2","name":"plan","field_type":"Text"}],"reserved_fields":[{"id":"_rf0_T","name":"first_name","field_type":"Text","read_only":false},{"id":"_rf1_D","name":"created_at","field_type":"Date","read_only":true}],"_metadata":{"self":"x"}})";
  });
  auto r = sync({collection::field_definitions});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(q("SELECT name || '|' || field_type || '|' || read_only || '|' || reserved FROM "
              "field_definitions WHERE id='w1'"),
            "num_orders|Number|0|0");
  EXPECT_EQ(q("SELECT name || '|' || read_only || '|' || reserved FROM field_definitions WHERE "
              "id='_rf1_D'"),
            "created_at|1|1");
  api.edit([](fake_account& a) {
    a.field_definitions =
        R"({"custom_fields":[{"id":"w1","name":"orders","field_type":"Number"}],"reserved_fields":[]})";
  });
  r = sync({collection::field_definitions});
  ASSERT_TRUE(r.all_succeeded());
  EXPECT_EQ(last_run("field_definitions"), "1/1/1/3/succeeded");
  EXPECT_EQ(q("SELECT name FROM field_definitions WHERE id='w1'"), "orders");
}

TEST_P(AccountSyncTest, DailyStatsBackfillOnceThenReReadTheTrailingWindow) {
  api.edit([](fake_account& a) {
    for (int d = 20; d <= 31; ++d) a.stats_days["2025-12-" + std::to_string(d)] = metrics(d);
    a.stats_days["2026-01-01"] = metrics(100, 3);
  });
  auto r = sync({collection::stats_daily});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  // Backfill of 10 days (2025-12-22 .. 2026-01-01) in chunks of 4 days.
  EXPECT_EQ(q("SELECT min(date) || '|' || max(date) || '|' || count(*) FROM stats_daily"),
            "2025-12-22|2026-01-01|11");
  EXPECT_EQ(last_run("stats_daily"), "3/11/11/0/succeeded");
  EXPECT_EQ(q("SELECT delivered || '|' || bounces || '|' || processed || '|' || unique_opens FROM "
              "stats_daily WHERE id='2026-01-01'"),
            "100|3|10|2");
  EXPECT_EQ(
      api.requests().at(1).target,  // after /v3/scopes
      "/v3/stats?aggregated_by=day&start_date=2025-12-22&end_date=2025-12-25&limit=4&offset=0");

  // Next day: the last 3 days up to today are read again; a late count is updated.
  now = jan_1 + 24h;
  api.edit([](fake_account& a) {
    a.stats_days["2026-01-01"] = metrics(120, 4);
    a.stats_days["2026-01-02"] = metrics(5);
  });
  r = sync({collection::stats_daily});
  ASSERT_TRUE(r.all_succeeded());
  EXPECT_EQ(
      api.requests().back().target,
      "/v3/stats?aggregated_by=day&start_date=2025-12-30&end_date=2026-01-02&limit=4&offset=0");
  EXPECT_EQ(last_run("stats_daily"), "1/4/2/0/succeeded");
  EXPECT_EQ(q("SELECT delivered FROM stats_daily WHERE id='2026-01-01'"), "120");
  EXPECT_EQ(q("SELECT count(*) FROM stats_daily"), "12");
}

TEST_P(AccountSyncTest, CategoryStatsPerCategoryPerDay) {
  options.stats_backfill_days = 1;
  api.edit([](fake_account& a) {
    a.category_stats["2026-01-01"] = {
        {"news", metrics(5)}, {"offers", metrics(6)}, {"promo", metrics(7)}};
    a.category_stats["2025-12-31"] = {{"news", metrics(1)}};
  });
  auto r = sync({collection::category_stats_daily});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(q("SELECT count(*) FROM category_stats_daily"), "4");
  EXPECT_EQ(q("SELECT category || '|' || date || '|' || delivered FROM category_stats_daily WHERE "
              "id='promo|2026-01-01'"),
            "promo|2026-01-01|7");
  // 2025-12-31: one page; 2026-01-01: 3 categories in pages of 2.
  EXPECT_EQ(last_run("category_stats_daily"), "3/4/4/0/succeeded");

  // A day later a figure of 2026-01-01 changed and 2026-01-02 has a category: the trailing
  // window (2025-12-30 .. today) re-reads the one and adds the other; nothing is tombstoned.
  now = jan_1 + 24h;
  api.edit([](fake_account& a) {
    a.category_stats["2026-01-01"]["news"] = metrics(8);
    a.category_stats["2026-01-02"] = {{"offers", metrics(9)}};
  });
  r = sync({collection::category_stats_daily});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(q("SELECT group_concat(id || '=' || delivered, ' ') FROM "
              "(SELECT * FROM category_stats_daily ORDER BY id)"),
            "news|2025-12-31=1 news|2026-01-01=8 offers|2026-01-01=6 offers|2026-01-02=9 "
            "promo|2026-01-01=7");
  // 12-30 (empty), 12-31, 01-01 (2 pages), 01-02: 5 pages, 5 rows, 2 of them new or changed.
  EXPECT_EQ(last_run("category_stats_daily"), "5/5/2/0/succeeded");
}

// Totals from the listing, days from /{id}?aggregated_by=day for items with any activity:
// the first run backfills stats_backfill_days, later runs re-read the trailing window; days
// and totals are history, never tombstoned.
TEST_P(AccountSyncTest, SingleSendAndAutomationStatsAreKeptPerDayBesideTheTotals) {
  const std::string zero =
      R"({"bounce_drops":0,"bounces":0,"clicks":0,"delivered":0,"invalid_emails":0,"opens":0,)"
      R"("requests":0,"spam_report_drops":0,"spam_reports":0,"unique_clicks":0,)"
      R"("unique_opens":0,"unsubscribes":0})";
  auto ss = [](const std::string& id, const std::string& aggregation, const std::string& stats) {
    return R"({"id":")" + id + R"(","ab_variation":"all","ab_phase":"all","aggregation":")" +
           aggregation + R"(","stats":)" + stats + "}";
  };
  auto step = [](const std::string& aggregation, int delivered) {
    return R"({"id":"a1","step_id":"st1","aggregation":")" + aggregation + R"(","stats":)" +
           metrics(delivered) + "}";
  };
  api.edit([&](fake_account& a) {
    // s3 is a draft: all-zero totals, so its days are not asked for.
    a.singlesend_stats = {ss("s1", "total", metrics(9)), ss("s2", "total", metrics(2)),
                          ss("s3", "total", zero)};
    a.singlesend_days["s1"] = {ss("s1", "2025-12-20", metrics(1)),  // before the backfill
                               ss("s1", "2025-12-25", metrics(2)),
                               ss("s1", "2025-12-31", metrics(3)),
                               ss("s1", "2026-01-01", metrics(4))};
    a.singlesend_days["s2"] = {ss("s2", "2025-12-30", metrics(2))};
    a.automation_stats = {step("total", 9)};
    a.automation_days["a1"] = {step("2025-12-31", 9)};
  });
  auto r = sync({collection::singlesend_stats, collection::automation_stats});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error << r.collections.at(1).error;
  EXPECT_EQ(q("SELECT group_concat(singlesend_id || '=' || delivered, ' ') FROM "
              "(SELECT * FROM singlesend_stats WHERE date IS NULL ORDER BY id)"),
            "s1=9 s2=2 s3=0");
  EXPECT_EQ(q("SELECT group_concat(id || ':' || date || ':' || delivered, ' ') FROM "
              "(SELECT * FROM singlesend_stats WHERE date IS NOT NULL ORDER BY id)"),
            "s1|all|all|2025-12-25:2025-12-25:2 s1|all|all|2025-12-31:2025-12-31:3 "
            "s1|all|all|2026-01-01:2026-01-01:4 s2|all|all|2025-12-30:2025-12-30:2");
  EXPECT_EQ(q("SELECT group_concat(id || ':' || coalesce(date, '-') || ':' || delivered, ' ') FROM "
              "(SELECT * FROM automation_stats ORDER BY id)"),
            "a1|st1|2025-12-31:2025-12-31:9 a1|st1|total:-:9");
  // Listing: 2 pages of 2; s1's days: 2 pages; s2's: 1.
  EXPECT_EQ(last_run("singlesend_stats"), "5/7/7/0/succeeded");
  bool asked_s1 = false;
  for (const auto& req : api.requests()) {
    EXPECT_EQ(req.target.find("/singlesends/s3"), std::string::npos) << req.target;
    asked_s1 = asked_s1 ||
               req.target ==
                   "/v3/marketing/stats/singlesends/s1?aggregated_by=day&start_date=2025-12-22&"
                   "end_date=2026-01-01&group_by=ab_variation&group_by=ab_phase&page_size=2";
  }
  EXPECT_TRUE(asked_s1);
  EXPECT_EQ(q("SELECT value FROM sync_state WHERE key='singlesend_stats.through'"), "2026-01-01");

  // Two days later: s1's last day changed and it has a new one; s2 was deleted in SendGrid.
  now = jan_1 + 48h;
  api.edit([&](fake_account& a) {
    a.singlesend_stats = {ss("s1", "total", metrics(14)), ss("s3", "total", zero)};
    a.singlesend_days["s1"].back() = ss("s1", "2026-01-01", metrics(5));
    a.singlesend_days["s1"].push_back(ss("s1", "2026-01-02", metrics(4)));
    a.singlesend_days.erase("s2");
  });
  r = sync({collection::singlesend_stats});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  // The trailing window (3 days through the last day read, 2026-01-01) to today.
  EXPECT_EQ(api.requests().back().target,
            "/v3/marketing/stats/singlesends/s1?aggregated_by=day&start_date=2025-12-30&"
            "end_date=2026-01-03&group_by=ab_variation&group_by=ab_phase&page_size=2&"
            "page_token=2");
  EXPECT_EQ(q("SELECT group_concat(date || ':' || delivered, ' ') FROM "
              "(SELECT * FROM singlesend_stats WHERE singlesend_id = 's1' AND date IS NOT NULL "
              "ORDER BY date)"),
            "2025-12-25:2 2025-12-31:3 2026-01-01:5 2026-01-02:4");
  // Listing 1 page (s1 changed, s3 not); s1's days 2 pages (2026-01-01 changed, -02 new).
  EXPECT_EQ(last_run("singlesend_stats"), "3/5/3/0/succeeded");
  EXPECT_EQ(q("SELECT count(*) FROM singlesend_stats WHERE deleted_at IS NOT NULL"), "0");
  EXPECT_EQ(q("SELECT count(*) FROM singlesend_stats WHERE singlesend_id = 's2'"), "2");
}

TEST_P(AccountSyncTest, MessagesWindowsSplitUntilEachHasFewerThanTheLimitAndA429IsWaitedOut) {
  options.messages_backfill = 1h;
  options.messages_request_interval = 10000ms;
  // 2500 messages in the last hour: the whole hour, then halves, come back full.
  api.edit([](fake_account& a) {
    for (int i = 0; i < 2500; ++i) {
      const int s = 1 + i;  // 2025-12-31T23:00:01 .. 23:41:40
      char t[40];
      std::snprintf(t, sizeof t, "2025-12-31T23:%02d:%02d.000Z", s / 60, s % 60);
      a.messages.push_back(message(i, t));
    }
  });
  fake_response limited;
  limited.status = 429;
  limited.body = std::string(sgs::test::sendgrid_429_body);
  limited.headers["X-RateLimit-Reset"] = "7";
  limited.headers["X-RateLimit-Remaining"] = "0";
  api.inject("/v3/messages", limited);
  auto r = sync({collection::messages});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(q("SELECT count(*) FROM messages"), "2500");
  EXPECT_EQ(q("SELECT to_email || '|' || status || '|' || opens_count || '|' || last_event_time "
              "FROM messages WHERE id='msg-42'"),
            "r42@example.com|delivered|1|2025-12-31T23:00:43.000Z");
  const auto& c = r.collections.at(0);
  EXPECT_EQ(c.counts.rows_seen, 2500);
  EXPECT_EQ(c.counts.rate_limit_waits, 1);
  // Every request but the first waited the pacing interval (6 per minute).
  int paced = 0;
  for (auto w : waits) paced += w == 10000ms ? 1 : 0;
  EXPECT_EQ(paced, api.count("/v3/messages") - 2)
      << api.count("/v3/messages");  // 429 retry + first
  // The webhook's event tables are not touched.
  EXPECT_EQ(q("SELECT count(*) FROM delivered"), "0");

  // A status that changed is updated by the next run's trailing re-read.
  now = jan_1 + 1h;
  api.edit([](fake_account& a) {
    a.messages[42] = message(42, "2025-12-31T23:00:43.000Z", "not_delivered");
  });
  r = sync({collection::messages});
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(q("SELECT status FROM messages WHERE id='msg-42'"), "not_delivered");
}

TEST_P(AccountSyncTest, MessagesWithoutTheAddOnAreSkippedAndTheOthersSucceed) {
  api.edit([](fake_account& a) {
    a.email_activity_addon = false;
    a.bounces = {suppression("x@example.com", 1)};
  });
  const auto r = sync({collection::bounces, collection::messages});
  EXPECT_TRUE(r.all_succeeded());
  EXPECT_EQ(r.collections.at(0).status, run_status::succeeded);
  EXPECT_EQ(r.collections.at(1).status, run_status::skipped);
  EXPECT_NE(r.collections.at(1).error.find("Email Activity add-on"), std::string::npos)
      << r.collections.at(1).error;
  EXPECT_EQ(last_run("messages"), "0/0/0/0/skipped");
  EXPECT_NE(q("SELECT error FROM sync_runs WHERE collection='messages'").find("access forbidden"),
            std::string::npos);
}

TEST_P(AccountSyncTest, AKeyLackingOneScopeSkipsThatCollectionNamingTheScopeAndTheOthersSucceed) {
  api.edit([](fake_account& a) {
    a.scopes = {"marketing.read", "suppression.read", "asm.groups.read", "stats.read"};
    a.bounces = {suppression("x@example.com", 1)};
    a.templates = {template_json("t1", "legacy", "one")};
    a.groups = {{1, "News"}};
    a.field_definitions = R"({"custom_fields":[],"reserved_fields":[]})";
  });
  const auto r = sync(sgs::sync::all_collections_but_opt_in());
  // Skipped for a scope is not a failure of the run.
  for (const auto& c : r.collections) {
    const auto name = std::string(sgs::store::collection_name(c.collection));
    if (c.collection == collection::templates || c.collection == collection::template_versions) {
      EXPECT_EQ(c.status, run_status::skipped) << name;
      EXPECT_NE(c.error.find("no 'templates.read' scope"), std::string::npos) << c.error;
    } else if (c.collection == collection::category_stats_daily) {
      EXPECT_EQ(c.status, run_status::succeeded)
          << name << ": " << c.error;  // stats.read is enough
    }
  }
  EXPECT_EQ(api.count("/v3/templates"), 0);  // skipped before any request
  EXPECT_EQ(api.count("/v3/scopes"), 1);     // read once per run
  EXPECT_EQ(q("SELECT status || '|' || (error LIKE '%templates.read%') FROM sync_runs WHERE "
              "collection='templates'"),
            "skipped|1");
  EXPECT_EQ(q("SELECT count(*) FROM bounces"), "1");
  EXPECT_EQ(q("SELECT count(*) FROM unsubscribe_groups"), "1");
  EXPECT_TRUE(r.all_succeeded()) << [&] {
    std::string s;
    for (const auto& c : r.collections)
      s += std::string(sgs::store::collection_name(c.collection)) + "=" +
           std::string(sgs::store::run_status_name(c.status)) + " " + c.error + "\n";
    return s;
  }();
}

TEST_P(AccountSyncTest, A403WhenScopesCannotBeReadSkipsOnlyThatCollection) {
  options.check_scopes = false;
  api.edit([](fake_account& a) {
    a.scopes = {"suppression.read"};
    a.bounces = {suppression("x@example.com", 1)};
  });
  const auto r = sync({collection::templates, collection::bounces});
  EXPECT_TRUE(r.all_succeeded());
  // Sync order: bounces, then templates.
  EXPECT_EQ(r.collections.at(0).status, run_status::succeeded);
  EXPECT_EQ(r.collections.at(1).status, run_status::skipped);
  EXPECT_NE(r.collections.at(1).error.find("'templates.read'"), std::string::npos)
      << r.collections.at(1).error;
  EXPECT_EQ(api.count("/v3/scopes"), 0);
}

TEST_P(AccountSyncTest, ARejectedKeyStopsTheSource) {
  client_options.api_key = "SG.wrong";
  const auto r = sync({collection::bounces, collection::templates});
  EXPECT_FALSE(r.all_succeeded());
  EXPECT_EQ(r.collections.at(0).status, run_status::failed);
  EXPECT_NE(r.collections.at(0).error.find("was rejected (401)"), std::string::npos)
      << r.collections.at(0).error;
  EXPECT_EQ(r.collections.at(1).status, run_status::skipped);
}

// The views over the tables on every store backend: rows written directly with SQL both accept
// (times as ISO-8601 text, which PostgreSQL reads as timestamptz), read back as a user would.
class AccountViewsTest : public ::testing::TestWithParam<backend_kind> {
 protected:
  void SetUp() override {
    SGS_REQUIRE_BACKEND(b);
    store = b.backend().open_object_store(b.source());
  }
  // On PostgreSQL through views with JSON and times as text (see store_backends.hpp).
  std::string q(const std::string& sql) { return b.query_as_text(sql); }
  void exec(const std::string& sql) { b.execute(sql); }
  backend_under_test b{GetParam()};
  std::unique_ptr<sgs::store::object_store> store;
};

TEST_P(AccountViewsTest, ListMembersViewJoinsContactsWithTheirLists) {
  // recipients rows are written by the contact sync; here directly.
  exec(
      "INSERT INTO recipients (id, email, list_ids, source_api, raw, synced_at) VALUES "
      "('c1','a@example.com','[\"l1\",\"l2\"]','marketing','{}','2026-01-01T00:00:00.000Z'),"
      "('c2','b@example.com','[\"l2\"]','marketing','{}','2026-01-01T00:00:00.000Z'),"
      "('c3','c@example.com',NULL,'marketing','{}','2026-01-01T00:00:00.000Z')");
  EXPECT_EQ(q("SELECT group_concat(list_id || ':' || contact_id, ',') FROM (SELECT * FROM "
              "list_members ORDER BY list_id, contact_id)"),
            "l1:c1,l2:c1,l2:c2");
}

TEST_P(AccountViewsTest, RecipientActivityViewsGiveTheLastTimeAndCountOfEachKind) {
  auto add = [&](const std::string& table, const std::string& email, int ts) {
    if (GetParam() == backend_kind::sqlite) {
      // There the tables are views over event_rows (schema/0010).
      int kind = 0;
      for (auto t : sgs::events::all_event_types) {
        if (sgs::events::table_name(t) == table) kind = sgs::store::event_rows_kind(t);
      }
      exec("INSERT INTO event_rows (kind, email, timestamp, body, received_at_ms) VALUES (" +
           std::to_string(kind) + ", '" + email + "', " + std::to_string(ts) + ", '{\"email\":\"" +
           email + "\"}', 0)");
    } else {
      exec("INSERT INTO " + table + " (email, timestamp, raw, received_at) VALUES ('" + email +
           "', " + std::to_string(ts) + ", '{}', '2026-01-01T00:00:00.000Z')");
    }
  };
  add("delivered", "a@example.com", 100);
  add("delivered", "a@example.com", 200);
  add("_open", "a@example.com", 150);
  add("group_unsubscribe", "a@example.com", 300);
  add("unsubscribe", "a@example.com", 250);
  add("spam_report", "b@example.com", 50);
  EXPECT_EQ(q("SELECT last_delivered_at || '|' || delivered_count || '|' || last_open_at || '|' "
              "|| open_count || '|' || coalesce(CAST(last_click_at AS text), '-') || '|' || "
              "click_count || '|' || last_unsubscribe_at || '|' || unsubscribe_count FROM "
              "recipient_activity WHERE email = 'a@example.com'"),
            "200|2|150|1|-|0|300|2");
  EXPECT_EQ(q("SELECT last_spam_report_at || '|' || spam_report_count FROM recipient_activity "
              "WHERE email = 'b@example.com'"),
            "50|1");
  EXPECT_EQ(q("SELECT group_concat(activity || ':' || last_at || ':' || events, ',') FROM (SELECT "
              "* FROM recipient_activity_by_kind WHERE email = 'a@example.com' ORDER BY activity)"),
            "delivered:200:2,group_unsubscribe:300:1,open:150:1,unsubscribe:250:1");
  if (GetParam() != backend_kind::sqlite) return;
  // One email from the by-kind view is answered from the email indexes, not a scan (SQLite's
  // plan; PostgreSQL's planner picks by table statistics, which a handful of rows do not have).
  SQLite::Database db((b.storage().dir / (b.source() + ".db")).string(), SQLite::OPEN_READONLY);
  SQLite::Statement plan(db,
                         "EXPLAIN QUERY PLAN SELECT * FROM recipient_activity_by_kind WHERE "
                         "email = 'a@example.com'");
  while (plan.executeStep()) {
    const std::string detail = plan.getColumn(3).getString();
    EXPECT_EQ(detail.find("SCAN event_rows"), std::string::npos) << detail;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, AccountViewsTest,
                         ::testing::Values(backend_kind::sqlite, backend_kind::postgresql),
                         sgs::test::backend_name{});

}  // namespace

INSTANTIATE_TEST_SUITE_P(Backends, AccountSyncTest,
                         ::testing::Values(backend_kind::sqlite, backend_kind::postgresql),
                         sgs::test::backend_name{});
