// The store contract on every backend (SQLite and PostgreSQL, one parameterised suite): the
// event store, the webhook over 127.0.0.1, the object store and a sync, stored webhook keys,
// status summaries. Then what only a shared PostgreSQL store promises: several receivers on
// one schema store each event once, migrate once, and run one sync at a time.
#include "store_backends.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "events/parse.hpp"
#include "fake_sendgrid.hpp"
#include "http_client.hpp"
#include "sendgrid/client.hpp"
#include "sendgrid/session.hpp"
#include "store/object_store.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/postgres/pg_event_store.hpp"
#include "store/postgres/pg_schema.hpp"
#include "sync/sync_source.hpp"

using namespace std::chrono_literals;
using sgs::store::collection;
using sgs::store::write_result;
using sgs::test::backend_kind;
using sgs::test::backend_under_test;

namespace {

std::string read_data(const std::string& name) {
  std::ifstream in(std::string(SGS_TEST_DATA_DIR) + "/" + name, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string unique_event(const std::string& id, const std::string& type = "delivered") {
  return R"({"email":"user)" + id + R"(@example.com","timestamp":1700000000,"event":")" + type +
         R"(","sg_event_id":"ev-)" + id + R"(","sg_message_id":"msg-)" + id + R"(.filter0001.0"})";
}

std::string batch_of(const std::string& prefix, int first, int count) {
  std::string body = "[";
  for (int i = 0; i < count; ++i) {
    if (i) body += ",";
    body += unique_event(prefix + std::to_string(first + i));
  }
  return body + "]";
}

sgs::events::parsed_batch parse(const std::string& body) {
  auto r = sgs::events::parse_batch(body);
  if (auto* e = std::get_if<sgs::events::batch_error>(&r)) throw std::runtime_error(e->message);
  return std::get<sgs::events::parsed_batch>(std::move(r));
}

write_result write(sgs::store::event_store& store, const std::string& body) {
  std::promise<write_result> done;
  auto f = done.get_future();
  store.submit(parse(body), std::chrono::system_clock::now(),
               [&](const write_result& r) { done.set_value(r); });
  return f.get();
}

class StoreBackend : public ::testing::TestWithParam<backend_kind> {
 protected:
  void SetUp() override { SGS_REQUIRE_BACKEND(b); }
  std::string url() const { return "/webhooks/sendgrid/" + b.source(); }
  backend_under_test b{GetParam()};
};

}  // namespace

TEST_P(StoreBackend, EventStoreStoresDedupsByIdAndFingerprintAndSurvivesReopen) {
  {
    auto store = b.backend().open_event_store(b.source());
    auto r = write(*store, batch_of("a", 0, 3));
    ASSERT_EQ(r.status, write_result::outcome::committed) << r.error;
    EXPECT_EQ(r.stored, 3u);
    r = write(*store, batch_of("a", 0, 3));  // SendGrid's retry
    EXPECT_EQ(r.stored, 0u);
    EXPECT_EQ(r.duplicates, 3u);
    // The same content with changed sg_event_ids: the fingerprint catches it.
    std::string changed = batch_of("a", 0, 1);
    changed.replace(changed.find("ev-a0"), 5, "ev-zz");
    r = write(*store, changed);
    EXPECT_EQ(r.duplicates, 1u) << changed;
    // Duplicates inside one body, an unusable element and an unknown type.
    r = write(
        *store,
        "[" + unique_event("b1") + "," + unique_event("b1") +
            R"(,"not an object",{"email":"x@example.com","event":"brand_new","timestamp":1})" +
            "]");
    EXPECT_EQ(r.stored, 2u);
    EXPECT_EQ(r.duplicates, 1u);
    EXPECT_EQ(r.rejected, 1u);
    EXPECT_TRUE(store->healthy());
    EXPECT_EQ(store->counters()
                  .stored[static_cast<std::size_t>(sgs::events::event_type::delivered)]
                  .load(),
              4u);
    store->close();
    EXPECT_EQ(write(*store, batch_of("c", 0, 1)).status, write_result::outcome::closed);
  }
  auto again = b.backend().open_event_store(b.source());
  EXPECT_EQ(write(*again, batch_of("a", 0, 3)).duplicates, 3u);  // dedup survives a restart
  again->close();
  EXPECT_EQ(b.count("delivered"), 4);
  EXPECT_EQ(b.count("other_events"), 1);
  EXPECT_EQ(b.query("SELECT event FROM other_events"), "brand_new");
  EXPECT_EQ(b.count("rejected_events"), 1);
  EXPECT_EQ(b.count("activity"), 5);
}

// PostgreSQL inserts a group's keys with a plain INSERT first and, after a unique violation,
// runs the group again with ON CONFLICT (as it does the next groups for a while): a batch
// mixing stored and new events must come out the same either way, at the first retry, in
// the run after it, and once plain inserts have resumed.
TEST_P(StoreBackend, BatchesMixingStoredAndNewEventsStoreTheNewOnesBeforeDuringAndAfterRetries) {
  auto store = b.backend().open_event_store(b.source());
  auto r = write(*store, batch_of("a", 0, 3));
  ASSERT_EQ(r.status, write_result::outcome::committed) << r.error;
  EXPECT_EQ(r.stored, 3u);
  r = write(*store, "[" + unique_event("b0") + "," + unique_event("a1") + "," + unique_event("b1") +
                        "," + unique_event("a2") + "]");
  ASSERT_EQ(r.status, write_result::outcome::committed) << r.error;
  EXPECT_EQ(r.stored, 2u);
  EXPECT_EQ(r.duplicates, 2u);
  int stored_one_by_one = 0;
  for (int i = 0; i < 80; ++i) {  // more groups than follow a violation with ON CONFLICT
    r = write(*store, batch_of("c", i, 1));
    ASSERT_EQ(r.status, write_result::outcome::committed) << r.error;
    stored_one_by_one += static_cast<int>(r.stored);
    if (i == 40) {
      r = write(*store, "[" + unique_event("c3") + "," + unique_event("d0") + "]");
      EXPECT_EQ(r.stored, 1u);
      EXPECT_EQ(r.duplicates, 1u);
    }
  }
  EXPECT_EQ(stored_one_by_one, 80);
  // Plain inserts again: the same mixed batch, and the same content under a new sg_event_id.
  std::string renamed = unique_event("c7");
  renamed.replace(renamed.find("ev-c7"), 5, "ev-zz");
  r = write(*store, "[" + unique_event("e0") + "," + unique_event("a0") + "," + renamed + "]");
  EXPECT_EQ(r.stored, 1u);
  EXPECT_EQ(r.duplicates, 2u);
  r = write(*store, batch_of("f", 0, 2));
  EXPECT_EQ(r.stored, 2u);
  store->close();
  EXPECT_EQ(b.count("delivered"), 3 + 2 + 80 + 1 + 1 + 2);
}

TEST_P(StoreBackend, EveryDocumentedEventTypeLandsInItsTableAndTheViewsOverWebhook) {
  sgs::test::backend_server server(b.backend(), {b.source()});
  sgs::test::http_client client(server.port());
  auto res = client.post(url(), read_data("webhook/all_types.json"));
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.body, R"({"stored":15,"duplicates":1,"rejected":0})");
  server.stop();
  const std::vector<std::pair<std::string, int>> expected = {{"processed", 2},
                                                             {"dropped", 1},
                                                             {"delivered", 1},
                                                             {"deferred", 1},
                                                             {"bounce", 3},
                                                             {"_open", 1},
                                                             {"click", 1},
                                                             {"spam_report", 1},
                                                             {"unsubscribe", 1},
                                                             {"group_unsubscribe", 1},
                                                             {"group_resubscribe", 1},
                                                             {"account_status_change", 1},
                                                             {"activity", 15}};
  for (const auto& [table, n] : expected) EXPECT_EQ(b.count(table), n) << table;
  EXPECT_EQ(b.query("SELECT sum(events) FROM daily_counts"), "15");
  EXPECT_EQ(
      b.query("SELECT events FROM daily_counts WHERE day = '2017-12-15' AND event = 'bounce'"),
      "1");
  EXPECT_EQ(b.query("SELECT event FROM activity WHERE source_table = 'spam_report'"), "spamreport");
  EXPECT_EQ(b.query("SELECT smtp_id FROM delivered"), "<14c5d75ce93.dfd.64b469@ismtpd-555>");
  EXPECT_EQ(b.query("SELECT attempt + 1 FROM deferred"), "6");
  EXPECT_EQ(b.query("SELECT count(*) FROM bounce WHERE status IS NULL"), "1");
  EXPECT_FALSE(b.query("SELECT received_at FROM spam_report").empty());
  // The README's lookups by email and message id, on both stores.
  EXPECT_EQ(b.query("SELECT count(*) FROM activity WHERE email = 'alex@example.com'"),
            b.query("SELECT count(*) FROM activity WHERE email = 'alex@example.com'"));
  EXPECT_NE(b.query("SELECT count(*) FROM activity WHERE sg_message_id = "
                    "'14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0'"),
            "0");
}

TEST_P(StoreBackend, SixteenConcurrentClientsStoreExactlyTheSum) {
  sgs::test::backend_server server(b.backend(), {b.source()});
  constexpr int clients = 16, posts = 10, per_post = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      sgs::test::http_client client(server.port());
      for (int p = 0; p < posts; ++p) {
        auto r =
            client.post(url(), batch_of("c" + std::to_string(c) + "p", p * per_post, per_post));
        if (r.status == 200) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  server.stop();
  EXPECT_EQ(ok.load(), clients * posts);
  EXPECT_EQ(b.count("delivered"), clients * posts * per_post);
}

TEST_P(StoreBackend, ObjectStoreMergesTombstonesRevivesAndRecordsRuns) {
  auto store = b.backend().open_object_store(b.source());
  auto sync_lists = [&](const std::vector<std::pair<std::string, std::string>>& lists,
                        const std::string& at, bool complete) {
    store->begin_collection(collection::lists);
    sgs::store::object_row row(collection::lists);
    for (const auto& [id, name] : lists) {
      row.clear();
      row.text(sgs::store::list_col::id, id);
      row.text(sgs::store::list_col::name, name);
      row.integer(sgs::store::list_col::contact_count, 1);
      row.owned(sgs::store::list_col::raw) = R"({"id":")" + id + R"(","name":")" + name + "\"}";
      store->stage(row);
    }
    const auto up = store->merge("marketing", at, [] { return true; });
    const auto tomb = complete ? store->tombstone(at, [] { return true; }) : 0;
    store->end_collection();
    return std::pair{up, tomb};
  };
  // (How a repeated id counts in the upsert total differs between the stores; the rows do not.)
  EXPECT_EQ(sync_lists({{"l1", "one"}, {"l2", "two"}, {"l3", "three"}, {"l2", "two again"}},
                       "2026-01-01T00:00:00.000Z", true)
                .second,
            0);
  EXPECT_EQ(b.count("lists"), 3);
  EXPECT_EQ(b.query("SELECT name FROM lists WHERE id = 'l2'"), "two again");  // last copy wins
  EXPECT_EQ(sync_lists({{"l1", "one"}, {"l2", "two again"}}, "2026-01-02T00:00:00.000Z", true),
            (std::pair<std::int64_t, std::int64_t>{0, 1}));  // unchanged: not rewritten
  EXPECT_EQ(b.query("SELECT count(*) FROM lists WHERE deleted_at IS NOT NULL"), "1");
  EXPECT_EQ(sync_lists({{"l3", "three"}}, "2026-01-03T00:00:00.000Z", false),
            (std::pair<std::int64_t, std::int64_t>{1, 0}));  // revived; partial: no tombstones
  EXPECT_EQ(b.query("SELECT count(*) FROM lists WHERE deleted_at IS NULL"), "3");
  EXPECT_EQ(b.query("SELECT contact_count + 1 FROM lists WHERE id = 'l1'"), "2");

  const auto run =
      store->begin_run("r1", b.source(), collection::lists, "2026-01-03T00:00:00.000Z");
  sgs::store::run_counts counts;
  counts.pages = 2;
  counts.rows_upserted = 3;
  store->finish_run(run, sgs::store::run_status::succeeded, "marketing", counts,
                    "2026-01-03T00:00:01.000Z", "");
  EXPECT_EQ(store->last_success(collection::lists), "2026-01-03T00:00:01.000Z");
  EXPECT_EQ(store->last_status(collection::lists), "succeeded");
  const auto runs = store->recent_runs(5);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].counts.pages, 2);
  EXPECT_EQ(runs[0].started_at, "2026-01-03T00:00:00.000Z");
  store->set_state("k", "v1", "2026-01-03T00:00:00.000Z");
  store->set_state("k", "v2", "2026-01-03T00:00:00.000Z");
  EXPECT_EQ(store->state("k"), "v2");
  EXPECT_EQ(store->state("missing"), "");
}

TEST_P(StoreBackend, SyncFillsTheListsAndSyncRuns) {
  sgs::test::fake_sendgrid api;
  api.edit([](sgs::test::fake_account& a) {
    for (int i = 1; i <= 5; ++i) {
      a.lists.push_back(R"({"id":"l)" + std::to_string(i) + R"(","name":"n)" + std::to_string(i) +
                        R"(","contact_count":)" + std::to_string(i) + "}");
    }
  });
  sgs::sendgrid::client_options co;
  co.api_base = api.base_url();
  co.api_key = "SG.test-key";
  sgs::sendgrid::api_client client(co);
  sgs::sendgrid::retry_policy policy;
  sgs::sendgrid::session_env env;
  env.sleep = [](std::chrono::milliseconds) { return true; };
  sgs::sendgrid::api_session session(client, policy, env);
  sgs::sync::sync_options o;
  o.collections = {collection::lists};
  o.list_page_size = 2;
  auto store = b.backend().open_object_store(b.source());
  const auto r = sgs::sync::sync_source(session, *store, o);
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(b.count("lists"), 5);
  EXPECT_EQ(b.query("SELECT name FROM lists WHERE id = 'l3'"), "n3");
  EXPECT_EQ(b.query("SELECT status FROM sync_runs"), "succeeded");
  EXPECT_EQ(b.query("SELECT pages FROM sync_runs"), "3");
}

TEST_P(StoreBackend, WebhookKeysAreStoredReadPolledAndRemoved) {
  auto& be = b.backend();
  be.migrate(b.source());
  auto poll = be.poll_webhook_keys(b.source());
  auto first = poll();
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->empty());
  const sgs::store::stored_webhook_key key{"MFkwKEY", "wh1", "https://x.example/h",
                                           "2026-01-01T00:00:00.000Z"};
  EXPECT_TRUE(be.add_webhook_key(b.source(), key));
  EXPECT_FALSE(be.add_webhook_key(b.source(), key));
  const auto keys = be.read_webhook_keys(b.source());
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].webhook_url, "https://x.example/h");
  std::optional<std::vector<std::string>> seen;
  for (int i = 0; i < 50 && !seen; ++i) {
    seen = poll();
    if (!seen) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(*seen, std::vector<std::string>{"MFkwKEY"});
  EXPECT_TRUE(be.remove_webhook_key(b.source(), "MFkwKEY"));
  EXPECT_TRUE(be.read_webhook_keys(b.source()).empty());
}

TEST_P(StoreBackend, SummaryCountsRowsAndTheLastArrival) {
  EXPECT_FALSE(b.backend().exists(b.source()));
  {
    auto store = b.backend().open_event_store(b.source());
    ASSERT_EQ(write(*store, batch_of("s", 0, 4)).stored, 4u);
    store->close();
  }
  EXPECT_TRUE(b.backend().exists(b.source()));
  const auto s = b.backend().read_summary(b.source());
  EXPECT_EQ(s.total_events, 4);
  ASSERT_TRUE(s.last_received_at.has_value());
  EXPECT_EQ(s.last_received_at->size(), 24u) << *s.last_received_at;  // 2026-..T..:..:..123Z
  EXPECT_EQ(b.backend().read_last_arrival(b.source()), s.last_received_at);
  EXPECT_EQ(b.backend().migrate(b.source()), b.backend().migrate(b.source()));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreBackend,
                         ::testing::Values(backend_kind::sqlite, backend_kind::postgresql),
                         sgs::test::backend_name{});

// ---- What only a store shared by several receivers promises (PostgreSQL). ----

class SharedPostgres : public ::testing::Test {
 protected:
  void SetUp() override { SGS_REQUIRE_BACKEND(b); }
  backend_under_test b{backend_kind::postgresql};
};

TEST_F(SharedPostgres, TheSameBatchPostedToTwoReceiversAtOnceIsStoredOnce) {
  // Two receivers = two backends (own connections, own writers) on one schema.
  auto other = sgs::store::make_backend(b.storage());
  auto one = b.backend().open_event_store(b.source());
  auto two = other->open_event_store(b.source());
  constexpr int rounds = 40;
  std::atomic<std::size_t> stored{0}, duplicates{0};
  std::vector<std::thread> threads;
  for (auto* store : {one.get(), two.get()}) {
    threads.emplace_back([&, store] {
      for (int r = 0; r < rounds; ++r) {
        // Both post the same batch of round r, and each one batch of its own.
        auto same = write(*store, batch_of("same" + std::to_string(r) + "_", 0, 100));
        EXPECT_EQ(same.status, write_result::outcome::committed) << same.error;
        stored += same.stored;
        duplicates += same.duplicates;
        auto own =
            write(*store,
                  batch_of((store == one.get() ? "one" : "two") + std::to_string(r) + "_", 0, 10));
        stored += own.stored;
      }
    });
  }
  for (auto& t : threads) t.join();
  one->close();
  two->close();
  EXPECT_EQ(stored.load(), static_cast<std::size_t>(rounds * 100 + 2 * rounds * 10));
  EXPECT_EQ(duplicates.load(), static_cast<std::size_t>(rounds * 100));
  EXPECT_EQ(b.count("delivered"), rounds * 100 + 2 * rounds * 10);
}

TEST_F(SharedPostgres, DaemonsStartingTogetherMigrateOnce) {
  std::vector<std::future<int>> versions;
  for (int i = 0; i < 6; ++i) {
    versions.push_back(std::async(std::launch::async, [&] {
      return sgs::store::make_backend(b.storage())->migrate(b.source());
    }));
  }
  for (auto& v : versions) EXPECT_GT(v.get(), 0);
  EXPECT_EQ(b.query("SELECT count(*) FROM schema_migrations"),
            b.query("SELECT max(version) FROM schema_migrations"));
}

// Schema 4 replaced the sg_message_id B-trees with hash indexes (cheaper to keep up); email
// keeps its B-tree. A store made at version 3 keeps its rows, finds them by either key, and
// still knows its events as duplicates by content and by sg_event_id.
TEST_F(SharedPostgres, AVersion3SchemaUpgradesKeepingItsRowsAndItsDedupKeys) {
  {
    sgs::store::pg::connection c(*sgs::test::test_pg_url(), "");
    ASSERT_EQ(sgs::store::pg::migrate(c, b.source(), 3), 3);
    sgs::store::pg::maintain_partitions(c, b.source(), std::chrono::system_clock::now(), 1, {});
  }
  // Three events as a version-3 store held them: rows, and two keys each in event_keys (k).
  const auto as_uuid = [](const sgs::events::dedup_key& k) {
    char text[40];
    std::snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx",
                  static_cast<unsigned>(k.high >> 32),
                  static_cast<unsigned>((k.high >> 16) & 0xffff),
                  static_cast<unsigned>(k.high & 0xffff), static_cast<unsigned>(k.low >> 48),
                  static_cast<unsigned long long>(k.low & 0xffffffffffffULL));
    return std::string(text);
  };
  for (const auto& e : parse(batch_of("v", 0, 3)).events) {
    b.execute(
        "INSERT INTO delivered (email, timestamp, sg_event_id, sg_message_id, raw, "
        "received_at) VALUES ('" +
        std::string(*e.email) + "', " + std::to_string(*e.timestamp) + ", '" +
        std::string(*e.sg_event_id) + "', '" + std::string(*e.sg_message_id) + "', '" +
        std::string(e.raw) + "', now()); INSERT INTO event_keys (k) VALUES ('" +
        as_uuid(sgs::events::fingerprint_key(e)) + "'), ('" +
        as_uuid(*sgs::events::event_id_key(e)) + "')");
  }
  const auto indexes = [&](const std::string& column, const std::string& method) {
    // Catalog rows only: pg_indexes calls pg_get_indexdef, which fails on an index of another
    // test's schema dropped while this query runs.
    return b.query(
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am am ON am.oid = c.relam "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
        "WHERE i.indnatts = 1 AND n.nspname = '" +
        b.source() + "' AND am.amname = '" + method + "' AND a.attname = '" + column + "'");
  };
  EXPECT_EQ(indexes("sg_message_id", "hash"), "0");
  EXPECT_EQ(b.backend().migrate(b.source()), sgs::store::pg::latest_version());
  EXPECT_EQ(indexes("sg_message_id", "btree"), "0");
  // Each event table and each of its partitions (the default one and the months made so far).
  const std::string tables_and_partitions = indexes("email", "btree");
  EXPECT_GE(std::stoi(tables_and_partitions), 13 * 2);
  EXPECT_EQ(indexes("sg_message_id", "hash"), tables_and_partitions);
  auto store = b.backend().open_event_store(b.source());
  auto r = write(*store, batch_of("v", 0, 4));
  EXPECT_EQ(r.stored, 1u);
  EXPECT_EQ(r.duplicates, 3u);
  // The same sg_event_id as an event stored before the upgrade, with other content.
  std::string same_id = unique_event("v1");
  same_id.replace(same_id.find("userv1"), 6, "userxx");
  r = write(*store, "[" + same_id + "]");
  EXPECT_EQ(r.stored, 0u) << same_id;
  EXPECT_EQ(r.duplicates, 1u);
  // The same content as one from before the upgrade, with a new sg_event_id.
  std::string new_id = unique_event("v2");
  new_id.replace(new_id.find("ev-v2"), 5, "ev-zz");
  r = write(*store, "[" + new_id + "]");
  EXPECT_EQ(r.duplicates, 1u) << new_id;
  store->close();
  // The 6 keys of the 3 events from before, the 2 of the one new event, and the new key of
  // each of the two duplicates (a duplicate's other key is kept too: that content or that
  // sg_event_id has now been seen).
  EXPECT_EQ(b.query("SELECT count(*) FROM event_keys"), "10");
  EXPECT_EQ(b.query("SET enable_seqscan = off; SELECT count(*) FROM activity WHERE "
                    "sg_message_id IN ('msg-v1.filter0001.0', 'msg-v3.filter0001.0')"),
            "2");
  EXPECT_EQ(b.query("SELECT count(*) FROM activity WHERE email = 'userv2@example.com'"), "1");
  EXPECT_EQ(b.count("delivered"), 4);
}

TEST_F(SharedPostgres, OneSyncAtATimeThePeerRecordsItsRunAsSkipped) {
  auto holder = b.backend().open_object_store(b.source());
  ASSERT_TRUE(holder->try_lock_sync());
  auto peer_backend = sgs::store::make_backend(b.storage());
  auto peer = peer_backend->open_object_store(b.source());
  EXPECT_FALSE(peer->try_lock_sync());

  sgs::test::fake_sendgrid api;
  sgs::sendgrid::client_options co;
  co.api_base = api.base_url();
  co.api_key = "SG.test-key";
  sgs::sendgrid::api_client client(co);
  sgs::sendgrid::session_env env;
  env.sleep = [](std::chrono::milliseconds) { return true; };
  sgs::sendgrid::api_session session(client, sgs::sendgrid::retry_policy{}, env);
  sgs::sync::sync_options o;
  o.collections = {collection::lists, collection::segments};
  const auto r = sgs::sync::sync_source(session, *peer, o);
  ASSERT_EQ(r.collections.size(), 2u);
  EXPECT_EQ(r.collections[0].status, sgs::store::run_status::skipped);
  EXPECT_NE(r.collections[0].error.find("another receiver"), std::string::npos);
  EXPECT_EQ(api.requests().size(), 0u);  // nothing fetched
  EXPECT_EQ(b.query("SELECT count(*) FROM sync_runs WHERE status = 'skipped'"), "2");

  holder.reset();  // the lock goes with its session
  auto next = peer_backend->open_object_store(b.source());
  EXPECT_TRUE(next->try_lock_sync());
}

TEST_F(SharedPostgres, EventTablesArePartitionedByMonthAndRetentionDropsWholeMonths) {
  auto storage = b.storage();
  storage.retention_days = 30;
  auto be = sgs::store::make_backend(storage);
  be->migrate(b.source());
  const std::string old_partition = "delivered_p201001";
  b.query("CREATE TABLE \"" + b.source() + "\"." + old_partition + " PARTITION OF \"" + b.source() +
          "\".delivered FOR VALUES FROM ('2010-01-01') TO ('2010-02-01')");
  EXPECT_EQ(b.query("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '" +
                    b.source() + "' AND c.relname = '" + old_partition + "'"),
            "1");
  // A new process's store runs the upkeep at open: partitions ahead, the old month dropped.
  auto store = sgs::store::make_backend(storage)->open_event_store(b.source());
  store->close();
  EXPECT_EQ(b.query("SELECT to_regclass('" + old_partition + "') IS NULL"), "t");
  EXPECT_GE(std::stoi(b.query("SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = "
                              "i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace WHERE "
                              "n.nspname = '" +
                              b.source() + "' AND p.relname = 'delivered'")),
            3);  // default + this month + the next
}

// A receiver whose clock ran months ahead stored rows in the default partitions. When their
// month comes, its partitions are still created (PostgreSQL refuses to create a partition over
// rows of the default one): the rows move into them, none lost, and the store keeps writing.
TEST_F(SharedPostgres, RowsInADefaultPartitionMoveIntoTheirMonthWhenItIsCreated) {
  ASSERT_GT(b.backend().migrate(b.source()), 0);
  b.execute(
      "INSERT INTO delivered (email, timestamp, sg_event_id, raw, received_at) VALUES "
      "('a@example.com', 1, 'ev-a', '{}', '2031-03-15T10:00:00Z'), "
      "('b@example.com', 2, 'ev-b', '{}', '2031-03-31T23:59:59Z'), "
      "('c@example.com', 3, 'ev-c', '{}', '2031-04-01T00:00:00Z'); "
      "INSERT INTO rejected_events (reason, raw, received_at) VALUES "
      "('not an object', '1', '2031-03-20T00:00:00Z')");
  ASSERT_EQ(b.query("SELECT count(*) FROM delivered_default"), "3");
  const auto march = std::chrono::sys_days(std::chrono::year(2031) / 3 / 10);
  const auto april = std::chrono::sys_days(std::chrono::year(2031) / 4 / 2);
  sgs::store::pg::connection c(*sgs::test::test_pg_url(), "");
  EXPECT_EQ(sgs::store::pg::maintain_partitions(c, b.source(), march, 0, {}).moved_rows, 3);
  EXPECT_EQ(b.query("SELECT string_agg(email, ',' ORDER BY email) FROM delivered_p203103"),
            "a@example.com,b@example.com");
  EXPECT_EQ(b.query("SELECT count(*) FROM rejected_events_p203103"), "1");
  EXPECT_EQ(b.query("SELECT string_agg(email, ',') FROM delivered_default"), "c@example.com");
  // The moved-into partition is a full partition: the parent's indexes are on it.
  const auto indexes_on = [&](const std::string& table) {
    return b.query(
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '" +
        b.source() + "' AND c.relname = '" + table + "'");
  };
  EXPECT_EQ(indexes_on("delivered_p203103"), indexes_on("delivered_default"));
  EXPECT_EQ(sgs::store::pg::maintain_partitions(c, b.source(), april, 1, {}).moved_rows, 1);
  EXPECT_EQ(b.query("SELECT count(*) FROM delivered_default"), "0");
  EXPECT_EQ(sgs::store::pg::maintain_partitions(c, b.source(), april, 1, {}).moved_rows, 0);
  EXPECT_EQ(b.count("delivered"), 3);
  EXPECT_EQ(b.query("SELECT count(*) FROM delivered WHERE email = 'b@example.com'"), "1");
  // A store opening now (its upkeep runs at open) still writes.
  auto store = b.backend().open_event_store(b.source());
  EXPECT_EQ(write(*store, batch_of("m", 0, 2)).status, write_result::outcome::committed);
  store->close();
  EXPECT_EQ(b.count("delivered"), 5);
}

TEST_F(SharedPostgres, UnreachableServerAnswersFailedAndSaysWhyThenRecovers) {
  // A store whose server goes away: its connection is killed from another session.
  auto store = b.backend().open_event_store(b.source());
  ASSERT_EQ(write(*store, batch_of("u", 0, 1)).status, write_result::outcome::committed);
  // Only this test's sessions: tests run in parallel on the same server.
  b.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
      "'sendgrid-source " +
      b.source() + "'");
  // The next group finds the connection gone (503); the one after reconnects.
  auto r = write(*store, batch_of("u", 1, 1));
  if (r.status != write_result::outcome::committed) {
    EXPECT_EQ(r.status, write_result::outcome::failed);
    EXPECT_FALSE(store->healthy());
    EXPECT_FALSE(store->last_error().empty());
    for (int i = 0; i < 50 && r.status != write_result::outcome::committed; ++i) {
      std::this_thread::sleep_for(100ms);
      r = write(*store, batch_of("u", 1, 1));
    }
  }
  EXPECT_EQ(r.status, write_result::outcome::committed) << r.error;
  EXPECT_TRUE(store->healthy());
  store->close();
  EXPECT_EQ(b.count("delivered"), 2);
}

TEST_F(SharedPostgres, ElementsPostgresCannotHoldAreKeptRawInRejectedEvents) {
  auto store = b.backend().open_event_store(b.source());
  const std::string body =
      R"([{"email":"a@example.com","event":"delivered","timestamp":1,"x":"\u0000"},)"
      R"({"email":"b@example.com","event":"delivered","timestamp":2,"y":"\ud800"},)" +
      unique_event("ok") + "]";
  const auto r = write(*store, body);
  ASSERT_EQ(r.status, write_result::outcome::committed) << r.error;
  EXPECT_EQ(r.stored, 1u);
  EXPECT_EQ(r.rejected, 2u);
  store->close();
  EXPECT_EQ(b.count("rejected_events"), 2);
  EXPECT_NE(b.query("SELECT reason FROM rejected_events LIMIT 1").find("jsonb"), std::string::npos);
}

namespace {

// The statements of the first ```sql block after `marker` in the README.
std::vector<std::string> readme_queries(const std::string& marker) {
  const std::string readme = read_data("../../README.md");
  auto at = readme.find(marker);
  if (at == std::string::npos) throw std::runtime_error("README has no " + marker);
  at = readme.find("```sql\n", at);
  const auto end = readme.find("```\n", at + 7);
  const std::string block = readme.substr(at + 7, end - at - 7);
  std::vector<std::string> out;
  std::size_t start = 0;
  for (auto semi = block.find(";\n"); semi != std::string::npos; semi = block.find(";\n", start)) {
    out.push_back(block.substr(start, semi - start));
    start = semi + 2;
  }
  return out;
}

}  // namespace

TEST_P(StoreBackend, TheReadmeExampleQueriesRunOnTheStore) {
  {
    sgs::test::backend_server server(b.backend(), {b.source()});
    sgs::test::http_client client(server.port());
    ASSERT_EQ(client.post(url(), read_data("webhook/all_types.json")).status, 200);
  }
  b.backend().open_object_store(b.source());  // the object tables exist too
  const auto queries =
      readme_queries(GetParam() == backend_kind::sqlite ? "Example queries:"
                                                        : "<!-- postgresql example queries -->");
  EXPECT_GE(queries.size(), 7u);
  for (const auto& q : queries) EXPECT_NO_THROW(b.query(q)) << q;
  if (GetParam() == backend_kind::postgresql) {
    EXPECT_NE(b.query(queries.at(0)), "");  // alex@example.com's events
  }
}

// The same README example, in each store's dialect, answers the same on the same events: the
// two lists pair up query by query (PostgreSQL's has one more, about partitions, at the end).
TEST(ReadmeQueries, EachExampleAnswersTheSameOnSqliteAndPostgres) {
  backend_under_test lite{backend_kind::sqlite}, pg{backend_kind::postgresql};
  SGS_REQUIRE_BACKEND(pg);
  // The samples, plus events that the time-bound and custom-arg examples find.
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::string recent =
      R"([{"email":"alex@example.com","timestamp":)" + std::to_string(now - 86400) +
      R"(,"event":"bounce","sg_event_id":"r1","type":"bounce","bounce_classification":"Invalid Address"},)"
      R"({"email":"alex@example.com","timestamp":)" +
      std::to_string(now - 3600) +
      R"(,"event":"delivered","sg_event_id":"r2","order_id":"o-17","marketing_campaign_name":"spring"}])";
  for (auto* b : {&lite, &pg}) {
    sgs::test::backend_server server(b->backend(), {b->source()});
    sgs::test::http_client client(server.port());
    const std::string url = "/webhooks/sendgrid/" + b->source();
    ASSERT_EQ(client.post(url, read_data("webhook/all_types.json")).status, 200);
    ASSERT_EQ(client.post(url, recent).status, 200);
    server.stop();
    b->backend().open_object_store(b->source());
    b->execute(
        "INSERT INTO recipients (id, email, source_api, raw, synced_at) VALUES ('c1', "
        "'alex@example.com', 'marketing', '{}', '2026-01-01T00:00:00.000Z')");
  }
  const auto sqlite_queries = readme_queries("Example queries:");
  const auto pg_queries = readme_queries("<!-- postgresql example queries -->");
  ASSERT_GE(pg_queries.size(), sqlite_queries.size());
  int found_rows = 0;
  for (std::size_t i = 0; i < sqlite_queries.size(); ++i) {
    const std::string rows = "SELECT count(*) FROM (" + sqlite_queries[i] + ") sub";
    const std::string pg_rows = "SELECT count(*) FROM (" + pg_queries[i] + ") sub";
    EXPECT_EQ(lite.query(rows), pg.query(pg_rows)) << sqlite_queries[i] << "\n" << pg_queries[i];
    found_rows += lite.query(rows) != "0";
  }
  EXPECT_GE(found_rows, 6);  // the examples find something, not only nothing on both
}
