// The webhook server and the sync against the in-memory stores of tests/support/memory_store:
// what they need from a store is the interface (store/event_store.hpp, store/object_store.hpp),
// nothing of SQLite.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <thread>

#include "fake_client.hpp"
#include "fake_sendgrid.hpp"
#include "http_client.hpp"
#include "memory_store.hpp"
#include "sync/sync_source.hpp"
#include "webhook/server.hpp"

namespace {

using namespace std::chrono_literals;
using sgs::store::collection;

const std::string batch =
    R"([{"email":"a@example.com","timestamp":1700000000,"event":"delivered","sg_event_id":"e1",)"
    R"("sg_message_id":"m1"},{"email":"b@example.com","timestamp":1700000001,"event":"open",)"
    R"("sg_event_id":"e2","sg_message_id":"m2"},"not an object"])";

// The real server on 127.0.0.1:0 with one source backed by a memory_event_store.
class MemoryWebhook : public ::testing::Test {
 protected:
  MemoryWebhook() {
    std::map<std::string, sgs::webhook::source_endpoint, std::less<>> endpoints;
    endpoints.emplace("default", sgs::webhook::source_endpoint{"default", &store, {}});
    sgs::webhook::server_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    server = std::make_unique<sgs::webhook::server>(ioc.get_executor(), o, std::move(endpoints));
    server->start();
    thread = std::thread([this] { ioc.run(); });
  }
  ~MemoryWebhook() override {
    server->stop();
    thread.join();
    store.close();
  }
  sgs::test::memory_event_store store;
  boost::asio::io_context ioc;
  std::unique_ptr<sgs::webhook::server> server;
  std::thread thread;
};

TEST_F(MemoryWebhook, ABatchIsAnsweredWithWhatTheStoreCommitted) {
  sgs::test::http_client client(server->port());
  auto r = client.post("/webhooks/sendgrid/default", batch);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"stored\":2"), std::string::npos) << r.body;
  EXPECT_EQ(store.stored_ids(), (std::vector<std::string>{"e1", "e2"}));
  EXPECT_EQ(store.rejected(), 1u);

  r = client.post("/webhooks/sendgrid/default", batch);  // SendGrid's retry
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"duplicates\":2"), std::string::npos) << r.body;
  EXPECT_EQ(store.stored_ids().size(), 2u);
}

TEST_F(MemoryWebhook, AFailedCommitIs503AndHealthzSaysWhy) {
  store.fail_with("database or disk is full");
  sgs::test::http_client client(server->port());
  auto r = client.post("/webhooks/sendgrid/default", batch);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("database or disk is full"), std::string::npos) << r.body;
  EXPECT_TRUE(store.stored_ids().empty());
  auto h = client.request("GET", "/healthz");
  EXPECT_EQ(h.status, 503) << h.body;
  EXPECT_NE(h.body.find("database or disk is full"), std::string::npos) << h.body;

  store.fail_with(std::nullopt);
  r = client.post("/webhooks/sendgrid/default", batch);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(client.request("GET", "/healthz").status, 200);
}

TEST_F(MemoryWebhook, MetricsCountWhatTheStoreReports) {
  sgs::test::http_client client(server->port());
  ASSERT_EQ(client.post("/webhooks/sendgrid/default", batch).status, 200);
  const auto m = client.request("GET", "/metrics");
  EXPECT_NE(
      m.body.find(R"(sendgrid_source_events_stored_total{source="default",table="delivered"} 1)"),
      std::string::npos)
      << m.body;
}

// The sync against the fake SendGrid API, into a memory_object_store.
class MemorySync : public ::testing::Test {
 protected:
  MemorySync() {
    client_options = sgs::test::client_options_for(api);
    policy = sgs::test::quick_retries(2, 2ms);
  }
  void lists(const std::vector<std::string>& ids) {
    api.edit([&](sgs::test::fake_account& a) {
      a.lists.clear();
      for (const auto& id : ids) {
        a.lists.push_back(R"({"id":")" + id + R"(","name":"n)" + id + R"(","contact_count":1})");
      }
    });
  }
  sgs::sync::source_result sync() {
    sgs::sendgrid::api_client client(client_options);
    sgs::sendgrid::session_env env;
    env.sleep = [](std::chrono::milliseconds) { return true; };
    env.now = [] { return std::chrono::system_clock::now(); };
    env.random01 = [] { return 0.5; };
    sgs::sendgrid::api_session session(client, policy, env);
    sgs::sync::sync_options options;
    options.collections = {collection::lists};
    return sgs::sync::sync_source(session, store, options);
  }
  sgs::test::fake_sendgrid api;
  sgs::test::memory_object_store store;
  sgs::sendgrid::client_options client_options;
  sgs::sendgrid::retry_policy policy;
};

TEST_F(MemorySync, ACompleteRunUpsertsAndTombstonesThroughTheInterface) {
  lists({"l1", "l2"});
  auto r = sync();
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_EQ(store.table(collection::lists).size(), 2u);

  lists({"l2"});
  r = sync();
  ASSERT_TRUE(r.all_succeeded()) << r.collections.at(0).error;
  EXPECT_FALSE(store.table(collection::lists).at("l1").deleted_at.empty());
  EXPECT_TRUE(store.table(collection::lists).at("l2").deleted_at.empty());
  EXPECT_EQ(r.collections.at(0).counts.rows_tombstoned, 1);
  const auto runs = store.recent_runs(10);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].status, "succeeded");
  EXPECT_FALSE(store.last_success(collection::lists).empty());
  const auto last =
      sgs::sync::last_complete_success(store, "default", {collection::lists}, nullptr);
  EXPECT_TRUE(last.has_value());
  EXPECT_FALSE(sgs::sync::last_complete_success(store, "default",
                                                {collection::lists, collection::segments}, nullptr)
                   .has_value());
}

// Issue 16 through the interface: a collection skipped for a missing scope does not hold the
// source's last complete success back; sync_state cursors are read back.
TEST_F(MemorySync, ASkippedCollectionIsLeftOutOfTheLastCompleteSuccessAndStateIsKept) {
  lists({"l1"});
  ASSERT_TRUE(sync().all_succeeded());
  EXPECT_EQ(store.last_status(collection::bounces), "");
  const auto row = store.begin_run("run-1", "default", collection::bounces, "2026-01-01T00:00:00Z");
  store.finish_run(row, sgs::store::run_status::skipped, "", {}, "2026-01-01T00:00:01Z",
                   "suppression.read missing");
  EXPECT_EQ(store.last_status(collection::bounces), "skipped");
  EXPECT_TRUE(sgs::sync::last_complete_success(store, "default",
                                               {collection::lists, collection::bounces}, nullptr)
                  .has_value());

  EXPECT_EQ(store.state("bounces.created"), "");
  store.set_state("bounces.created", "1767225600", "2026-01-01T00:00:02Z");
  EXPECT_EQ(store.state("bounces.created"), "1767225600");
}

TEST_F(MemorySync, AStoreThatFailsFailsTheRunWithItsMessage) {
  lists({"l1"});
  store.break_now("connection to the database lost");
  const auto r = sync();
  EXPECT_FALSE(r.all_succeeded());
  ASSERT_EQ(r.collections.size(), 1u);
  EXPECT_NE(r.collections[0].error.find("connection to the database lost"), std::string::npos)
      << r.collections[0].error;
}

}  // namespace
