// `check` and `webhook configure` through the real libcurl client against the fake SendGrid
// API on 127.0.0.1, and the stored signing key used by a running webhook server.
#include <gtest/gtest.h>

#include "fake_client.hpp"
#include "fake_sendgrid.hpp"
#include "http_client.hpp"
#include "sendgrid/client.hpp"
#include "sendgrid/session.hpp"
#include "setup/account_setup.hpp"
#include "setup/checklist.hpp"
#include "store/sqlite_backend.hpp"
#include "store/webhook_keys.hpp"
#include "test_server.hpp"
#include "webhook/stored_keys.hpp"

using namespace std::chrono_literals;
using sgs::setup::mark;
using sgs::test::fake_account;
using sgs::test::fake_sendgrid;
using sgs::test::fake_webhook;
using sgs::test::http_client;
using sgs::test::temp_dir;

namespace {

const std::string source = "default";

std::map<std::string, bool> every_event_on() {
  std::map<std::string, bool> m;
  for (auto name : sgs::setup::stored_event_switches()) m[std::string(name)] = true;
  return m;
}

class SetupTest : public ::testing::Test {
 protected:
  SetupTest() {
    client_options = sgs::test::client_options_for(api);
    policy = sgs::test::quick_retries(2, 2ms);
  }

  std::string our_url() const { return "https://events.example.com/webhooks/sendgrid/default"; }
  std::filesystem::path database() const { return dir.path() / "default.db"; }

  sgs::setup::check_context context() {
    sgs::setup::check_context c;
    c.source = source;
    c.collections = {"lists", "segments"};
    c.from_email = "news@example.com";
    c.unsubscribe_group_id = 12345;
    c.expected_url = our_url();
    for (auto& k : sgs::store::read_webhook_keys(database())) c.stored_keys.push_back(k.public_key);
    c.held_keys = config_keys;
    c.required_event_types = required_types;
    c.list_page_size = list_page_size;
    return c;
  }

  std::vector<sgs::setup::check_item> check() {
    sgs::sendgrid::api_client client(client_options);
    sgs::sendgrid::api_session session(client, policy, env());
    const auto ctx = context();
    auto answers = sgs::setup::fetch_account_answers(session, api.base_url(), ctx);
    return sgs::setup::evaluate(answers, ctx, sgs::setup::read_local_state(storage, source));
  }

  sgs::setup::configure_result configure(const std::string& url, bool test = false) {
    sgs::sendgrid::api_client client(client_options);
    sgs::sendgrid::api_session session(client, policy, env());
    sgs::setup::configure_request r;
    r.source = source;
    r.api_base = api.base_url();
    r.url = url;
    r.storage = &storage;
    r.send_test = test;
    r.event_types = required_types;
    r.now_iso8601 = [] { return std::string("2026-01-01T00:00:00.000Z"); };
    return sgs::setup::configure_webhook(session, r);
  }

  static sgs::sendgrid::session_env env() {
    sgs::sendgrid::session_env e;
    e.sleep = [](std::chrono::milliseconds) { return true; };
    e.now = [] { return std::chrono::system_clock::time_point(1767225600s); };
    e.random01 = [] { return 0.5; };
    return e;
  }

  // Everything SPEC §3 asks for, with a signed webhook whose key `config_keys` holds.
  void fully_set_up() {
    auto signer = std::make_shared<sgs::test::test_signer>();
    config_keys = {signer->public_key()};
    api.edit([&](fake_account& a) {
      a.domains = {{"example.com", true}};
      a.senders = {{"news@example.com", true}};
      a.groups = {{12345, "Weekly News"}};
      a.webhooks = {fake_webhook{"wh-1", our_url(), true, every_event_on(), signer}};
    });
  }

  const sgs::setup::check_item& item(const std::vector<sgs::setup::check_item>& items,
                                     const std::string& title) {
    for (const auto& i : items)
      if (i.title == title) return i;
    ADD_FAILURE() << "no item " << title << "\n" << sgs::setup::render(items);
    return items.front();
  }

  fake_sendgrid api;
  temp_dir dir;
  sgs::store::sqlite_backend storage{{.dir = dir.path()}};
  sgs::sendgrid::client_options client_options;
  sgs::sendgrid::retry_policy policy;
  std::vector<std::string> config_keys;
  std::vector<std::string> required_types = sgs::config::default_webhook_event_types();
  int list_page_size = 100;
};

}  // namespace

TEST_F(SetupTest, FullySetUpAccountPassesEveryItem) {
  fully_set_up();
  const auto items = check();
  for (const auto& i : items) EXPECT_NE(i.status, mark::failed) << sgs::setup::render(items);
  for (const auto& i : items) {
    if (i.title != "last event") {
      EXPECT_EQ(i.status, mark::ok) << sgs::setup::render(items);
    }
  }
  EXPECT_EQ(items.size(), 11u);  // 9 items + one line per configured collection (2)
  // Every read went to the documented endpoints.
  EXPECT_EQ(api.count("/v3/scopes"), 1);
  EXPECT_EQ(api.count("/v3/whitelabel/domains"), 1);
  EXPECT_EQ(api.count("/v3/verified_senders"), 1);
  EXPECT_EQ(api.count("/v3/asm/groups"), 1);
  EXPECT_EQ(api.count("/v3/user/webhooks/event/settings/all"), 1);
}

struct failing_case {
  const char* name;
  std::function<void(fake_account&)> edit;
  const char* title;
  const char* fix_part;
};

class SetupItemFails : public SetupTest, public ::testing::WithParamInterface<failing_case> {};

TEST_P(SetupItemFails, OnlyThatItemFailsWithItsFix) {
  fully_set_up();
  api.edit(GetParam().edit);
  const auto items = check();
  const auto& failed = item(items, GetParam().title);
  EXPECT_EQ(failed.status, mark::failed) << sgs::setup::render(items);
  EXPECT_NE(failed.fix.find(GetParam().fix_part), std::string::npos) << failed.fix;
  for (const auto& i : items) {
    if (i.title != GetParam().title) {
      EXPECT_NE(i.status, mark::failed) << sgs::setup::render(items);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    EachItem, SetupItemFails,
    ::testing::Values(
        failing_case{"KeyWithoutMarketingScope",
                     [](fake_account& a) {
                       a.scopes = {"whitelabel.read", "asm.groups.read",
                                   "user.webhooks.event.settings.read"};
                     },
                     "API key", "marketing.read"},
        failing_case{"NoAuthenticatedDomain", [](fake_account& a) { a.domains.clear(); },
                     "authenticated domain",
                     "Settings > Sender Authentication > Authenticate Your Domain"},
        failing_case{"FromEmailNotVerified",
                     [](fake_account& a) {
                       a.domains = {{"other.org", true}};
                       a.senders = {{"news@example.com", false}};
                     },
                     "verified sender", "Verify a Single Sender"},
        failing_case{"UnsubscribeGroupMissing",
                     [](fake_account& a) {
                       a.groups = {{1, "Other"}};
                     },
                     "unsubscribe group", "Create New Group"},
        failing_case{"NoWebhookForThisSource",
                     [](fake_account& a) { a.webhooks[0].url = "https://elsewhere.example/hook"; },
                     "Event Webhook URL", "webhook configure --source default"},
        failing_case{"WebhookDisabled", [](fake_account& a) { a.webhooks[0].enabled = false; },
                     "Event Webhook enabled", "Enabled"},
        failing_case{"EventTypeNotPosted",
                     [](fake_account& a) { a.webhooks[0].events["click"] = false; },
                     "Event Webhook event types", "Actions to be posted"},
        failing_case{"SigningOff", [](fake_account& a) { a.webhooks[0].signer.reset(); },
                     "Event Webhook signing", "webhook configure"},
        failing_case{"SignedWithAnotherKey",
                     [](fake_account& a) {
                       a.webhooks[0].signer = std::make_shared<sgs::test::test_signer>();
                     },
                     "Event Webhook signing", "webhook_verification_key = \"MFkw"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(SetupTest, RejectedKeyIsOneClearFailureAndNothingElseIsAsked) {
  fully_set_up();
  client_options.api_key = "SG.wrong";
  const auto items = check();
  EXPECT_EQ(items[0].status, mark::failed);
  EXPECT_NE(items[0].detail.find("the API key for source 'default' was rejected (401)"),
            std::string::npos)
      << items[0].detail;
  EXPECT_EQ(api.count("/v3/whitelabel"), 0);
  EXPECT_EQ(api.count("/v3/user/webhooks"), 0);
}

TEST_F(SetupTest, KeyWithoutAPermissionGetsDashesNamingIt) {
  fully_set_up();
  api.edit([](fake_account& a) {
    a.scopes = {"marketing.read"};  // no whitelabel, asm or webhook scopes
    a.senders_forbidden = true;
  });
  const auto items = check();
  EXPECT_FALSE(sgs::setup::any_failed(items)) << sgs::setup::render(items);
  EXPECT_EQ(item(items, "authenticated domain").status, mark::not_checkable);
  EXPECT_NE(item(items, "authenticated domain").fix.find("whitelabel.read"), std::string::npos);
  EXPECT_NE(item(items, "unsubscribe group").fix.find("asm.groups.read"), std::string::npos);
  EXPECT_NE(item(items, "verified sender").fix.find("Full Access"), std::string::npos);
  EXPECT_NE(item(items, "Event Webhook").fix.find("user.webhooks.event.settings.read"),
            std::string::npos);
}

TEST_F(SetupTest, ConfigureCreatesThenFindsAndUpdatesWithoutADuplicate) {
  auto first = configure(our_url());
  ASSERT_TRUE(first.ok) << first.error;
  EXPECT_TRUE(first.created);
  EXPECT_TRUE(first.key_added);
  std::string key;
  api.edit([&](fake_account& a) {
    ASSERT_EQ(a.webhooks.size(), 1u);
    EXPECT_EQ(a.webhooks[0].url, our_url());
    EXPECT_TRUE(a.webhooks[0].enabled);
    // The default webhook_event_types: what SendGrid enables by default.
    for (auto name : sgs::setup::stored_event_switches())
      EXPECT_EQ(a.webhooks[0].events[std::string(name)], name != "account_status_change") << name;
    ASSERT_TRUE(a.webhooks[0].signer);
    key = a.webhooks[0].signer->public_key();
  });
  const auto stored = sgs::store::read_webhook_keys(database());
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].public_key, key);
  EXPECT_EQ(stored[0].webhook_id, first.webhook_id);
  EXPECT_EQ(stored[0].webhook_url, our_url());

  // Someone turns an event type off; running again finds the webhook and repairs it.
  api.edit([](fake_account& a) { a.webhooks[0].events["open"] = false; });
  auto second = configure(our_url());
  ASSERT_TRUE(second.ok) << second.error;
  EXPECT_FALSE(second.created);
  EXPECT_FALSE(second.key_added);
  EXPECT_EQ(second.webhook_id, first.webhook_id);
  EXPECT_EQ(api.count("/v3/user/webhooks/event/settings/signed/"), 1);  // not re-keyed
  api.edit([&](fake_account& a) {
    ASSERT_EQ(a.webhooks.size(), 1u);
    EXPECT_TRUE(a.webhooks[0].events["open"]);
    EXPECT_EQ(a.webhooks[0].signer->public_key(), key);
  });
  int creates = 0;
  for (const auto& r : api.requests())
    creates += r.method == "POST" && r.path == "/v3/user/webhooks/event/settings";
  EXPECT_EQ(creates, 1);
  // And `check` is now happy with the webhook.
  api.edit([](fake_account& a) {
    a.domains = {{"example.com", true}};
    a.groups = {{12345, "News"}};
  });
  EXPECT_FALSE(sgs::setup::any_failed(check())) << sgs::setup::render(check());
}

// Issue 13: SendGrid leaves account_status_change off by default (shown only with
// ?include=account_status_change); a fully set-up account without it passes, with a "–".
TEST_F(SetupTest, WebhookWithSendGridsDefaultEventTypesPassesWithARecommendation) {
  fully_set_up();
  api.edit([](fake_account& a) { a.webhooks[0].events["account_status_change"] = false; });
  const auto items = check();
  EXPECT_FALSE(sgs::setup::any_failed(items)) << sgs::setup::render(items);
  EXPECT_EQ(item(items, "Event Webhook optional event types").status, mark::not_checkable);
  EXPECT_NE(item(items, "Event Webhook optional event types").fix.find("webhook_event_types"),
            std::string::npos);
  // A source that asks for it requires it.
  required_types = sgs::config::default_webhook_event_types();
  required_types.push_back("account_status_change");
  const auto strict = check();
  EXPECT_EQ(item(strict, "Event Webhook event types").status, mark::failed)
      << sgs::setup::render(strict);
}

TEST_F(SetupTest, ConfigureEnablesTheConfiguredEventTypesAndCheckThenPasses) {
  fully_set_up();
  api.edit([](fake_account& a) {
    for (auto& [name, on] : a.webhooks[0].events) on = false;
  });
  required_types = {"delivered", "bounce", "account_status_change"};
  auto r = configure(our_url());
  ASSERT_TRUE(r.ok) << r.error;
  api.edit([](fake_account& a) {
    std::vector<std::string> on;
    for (auto& [name, value] : a.webhooks[0].events)
      if (value) on.push_back(name);
    EXPECT_EQ(on, (std::vector<std::string>{"account_status_change", "bounce", "delivered"}));
  });
  const auto items = check();
  EXPECT_FALSE(sgs::setup::any_failed(items)) << sgs::setup::render(items);
  EXPECT_EQ(item(items, "Event Webhook event types").status, mark::ok);
}

// Issue 13: a webhook id is a path segment of settings/{id} and settings/signed/{id}: with a
// space it gave "URL using bad/illegal format" after the webhook was created.
TEST_F(SetupTest, ConfigurePercentEncodesAWebhookIdWithASpaceAndASlash) {
  api.edit([](fake_account& a) { a.next_webhook_id = "wh 1/x"; });
  auto first = configure(our_url());
  ASSERT_TRUE(first.ok) << first.error;
  EXPECT_EQ(first.webhook_id, "wh 1/x");
  ASSERT_EQ(sgs::store::read_webhook_keys(database()).size(), 1u);
  EXPECT_EQ(sgs::store::read_webhook_keys(database())[0].webhook_id, "wh 1/x");
  // Found again and updated through settings/{id}.
  api.edit([](fake_account& a) { a.webhooks[0].enabled = false; });
  auto second = configure(our_url());
  ASSERT_TRUE(second.ok) << second.error;
  EXPECT_FALSE(second.created);
  api.edit([](fake_account& a) { EXPECT_TRUE(a.webhooks[0].enabled); });
  std::vector<std::string> targets;
  for (const auto& r : api.requests())
    if (r.method == "PATCH") targets.push_back(r.target);
  EXPECT_EQ(targets, (std::vector<std::string>{
                         "/v3/user/webhooks/event/settings/signed/wh%201%2Fx",
                         "/v3/user/webhooks/event/settings/wh%201%2Fx",
                     }));
}

// Issue 13: `check` read only the first page of these paged lists.
TEST_F(SetupTest, CheckPagesThroughDomainsAndVerifiedSenders) {
  fully_set_up();
  list_page_size = 2;
  api.edit([](fake_account& a) {
    // The one valid domain and the from_email's verified sender come on the last pages.
    a.domains = {{"a.org", false},
                 {"b.org", false},
                 {"c.org", false},
                 {"d.org", false},
                 {"other.org", true}};
    a.senders = {{"x1@other.org", false},
                 {"x2@other.org", false},
                 {"x3@other.org", false},
                 {"x4@other.org", false},
                 {"news@example.com", true}};
  });
  const auto items = check();
  EXPECT_FALSE(sgs::setup::any_failed(items)) << sgs::setup::render(items);
  EXPECT_EQ(item(items, "authenticated domain").detail, "other.org");
  EXPECT_EQ(item(items, "verified sender").detail, "news@example.com (from_email) is verified");
  std::vector<std::string> targets;
  for (const auto& r : api.requests()) {
    if (r.path == "/v3/whitelabel/domains" || r.path == "/v3/verified_senders")
      targets.push_back(r.target);
  }
  EXPECT_EQ(targets, (std::vector<std::string>{
                         "/v3/whitelabel/domains?limit=2&offset=0",
                         "/v3/whitelabel/domains?limit=2&offset=2",
                         "/v3/whitelabel/domains?limit=2&offset=4",
                         "/v3/verified_senders?limit=2",
                         "/v3/verified_senders?limit=2&lastSeenID=2",
                         "/v3/verified_senders?limit=2&lastSeenID=4",
                     }));
  // A list that fills its last page exactly ends with an empty page.
  api.edit([](fake_account& a) { a.domains.pop_back(); });
  const auto again = check();
  EXPECT_EQ(item(again, "authenticated domain").status, mark::failed);
  EXPECT_EQ(api.count("/v3/whitelabel/domains"), 6);
}

// Issue 13: a verification key the daemon cannot parse was stored with a ✓, and the daemon
// then ignored it and kept accepting unsigned posts.
TEST_F(SetupTest, ConfigureRefusesAVerificationKeyTheDaemonCannotUseAndStoresNothing) {
  api.edit([](fake_account& a) { a.public_key_override = "bm90IGEga2V5"; });  // "not a key"
  auto r = configure(our_url());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("is not a base64 P-256 public key the daemon can verify with"),
            std::string::npos)
      << r.error;
  EXPECT_NE(r.error.find("it was not stored"), std::string::npos) << r.error;
  for (const auto& step : r.steps) EXPECT_EQ(step.find("stored"), std::string::npos) << step;
  EXPECT_TRUE(sgs::store::read_webhook_keys(database()).empty());
  // Not base64 at all: refused too.
  api.edit([](fake_account& a) { a.public_key_override = "not base64!"; });
  EXPECT_FALSE(configure(our_url()).ok);
  EXPECT_TRUE(sgs::store::read_webhook_keys(database()).empty());
}

TEST_F(SetupTest, StoredKeyTheDaemonCannotUseFailsCheckAndConfigureReplacesIt) {
  fully_set_up();
  config_keys.clear();
  sgs::store::stored_webhook_key bad;
  bad.public_key = "bm90IGEga2V5";
  bad.webhook_id = "wh-1";
  bad.webhook_url = our_url();
  bad.added_at = "2025-01-01T00:00:00.000Z";
  ASSERT_TRUE(sgs::store::add_webhook_key(database(), bad, 1000ms));
  const auto items = check();
  EXPECT_EQ(item(items, "stored webhook key").status, mark::failed) << sgs::setup::render(items);
  EXPECT_NE(item(items, "stored webhook key").detail.find("cannot be used"), std::string::npos);
  EXPECT_NE(item(items, "stored webhook key").fix.find("webhook configure --source default"),
            std::string::npos);
  // configure stores the webhook's real key and drops the unusable one.
  auto r = configure(our_url());
  ASSERT_TRUE(r.ok) << r.error;
  bool removed = false;
  for (const auto& step : r.steps) removed = removed || step.find("removed a stored key") == 0;
  EXPECT_TRUE(removed);
  const auto stored = sgs::store::read_webhook_keys(database());
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_NE(stored[0].public_key, bad.public_key);
  const auto after = check();
  EXPECT_FALSE(sgs::setup::any_failed(after)) << sgs::setup::render(after);
}

TEST_F(SetupTest, ConfigureTakesOverAnExistingWebhookWithTheUrl) {
  api.edit([&](fake_account& a) {
    a.webhooks = {fake_webhook{"other", "https://other.example/x", true, every_event_on(), {}},
                  fake_webhook{"ours", our_url() + "/", false, {}, {}}};
  });
  auto r = configure(our_url());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.webhook_id, "ours");
  EXPECT_FALSE(r.created);
  api.edit([](fake_account& a) {
    EXPECT_EQ(a.webhooks.size(), 2u);
    EXPECT_TRUE(a.webhooks[1].enabled);
    EXPECT_TRUE(a.webhooks[1].signer);
    EXPECT_FALSE(a.webhooks[0].signer);  // the other integration's webhook is untouched
  });
}

TEST_F(SetupTest, ConfigureAtThePlanLimitSaysSoAndCreatesNothing) {
  api.edit([](fake_account& a) {
    a.max_webhooks = 1;
    a.webhooks = {fake_webhook{"other", "https://other.example/x", true, {}, {}}};
  });
  auto r = configure(our_url());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("plan allows 1 Event Webhook(s) and all are in use"), std::string::npos)
      << r.error;
  EXPECT_NE(r.error.find("https://other.example/x"), std::string::npos);
  for (const auto& req : api.requests()) EXPECT_NE(req.method, "POST");
}

TEST_F(SetupTest, ConfigureWhenSendGridRefusesTheCreateForThePlanSaysSo) {
  // max_allowed absent from the list: the 400 of the create is what tells.
  api.override_path("/v3/user/webhooks/event/settings/all",
                    {200, R"({"webhooks":[]})", {}, "application/json", 0ms});
  api.edit([](fake_account& a) { a.max_webhooks = 0; });
  auto r = configure(our_url());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("plan allows no more Event Webhooks"), std::string::npos) << r.error;
}

TEST_F(SetupTest, ConfigureWithAKeyWithoutWebhookPermissionsNamesThem) {
  api.edit([](fake_account& a) { a.scopes = {"marketing.read"}; });
  auto r = configure(our_url(), true);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("(403)"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("user.webhooks.event.settings.read"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("user.webhooks.event.settings.update"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("user.webhooks.event.test.create"), std::string::npos) << r.error;
  EXPECT_TRUE(sgs::store::read_webhook_keys(database()).empty());
}

TEST_F(SetupTest, ConfigureReadOnlyKeyFailsOnTheUpdateNamingThePermission) {
  api.edit([&](fake_account& a) {
    a.scopes = {"user.webhooks.event.settings.read"};
    a.webhooks = {fake_webhook{"ours", our_url(), false, {}, {}}};
  });
  auto r = configure(our_url());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("may not update the Event Webhook ours (403)"), std::string::npos)
      << r.error;
  EXPECT_NE(r.error.find("user.webhooks.event.settings.update"), std::string::npos);
}

// The key `webhook configure` stores is used by a running server at once: signed posts are
// accepted, unsigned and foreign-signed ones refused; SendGrid's test batch arrives.
TEST_F(SetupTest, StoredKeyIsUsedByARunningServerWithoutRestart) {
  auto reader = std::make_shared<sgs::store::webhook_key_reader>(database());
  sgs::webhook::stored_keys keys([reader] { return reader->read_if_changed(); }, {}, 0ms);
  sgs::webhook::source_auth auth;
  auth.stored = &keys;
  sgs::test::test_server server(dir.path(), {source}, {}, {}, {{source, auth}});
  const std::string path = "/webhooks/sendgrid/default";
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + path;
  const std::string body =
      R"([{"email":"a@example.com","timestamp":1700000000,"event":"delivered","sg_event_id":"e1"}])"
      "\r\n";
  http_client client(server.port());
  // Before: no key anywhere, so unsigned posts are accepted.
  EXPECT_EQ(client.post(path, body).status, 200);

  auto r = configure(url, /*test=*/true);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.key_added);
  EXPECT_EQ(keys.current() != nullptr, true);
  EXPECT_EQ(keys.key_count(), 1u);

  // SendGrid's signed test batch is accepted...
  ASSERT_TRUE(api.wait_test_posts(1, 10s));
  EXPECT_EQ(api.test_post_statuses()[0], 200);
  EXPECT_TRUE(sgs::setup::wait_for_arrival(storage, source, "2000-01-01", 5000ms, 50ms,
                                           [](std::chrono::milliseconds d) {
                                             std::this_thread::sleep_for(d);
                                             return true;
                                           },
                                           {}));
  EXPECT_EQ(sgs::test::count_rows(server.db_file(), "_open"), 1);

  // ...an unsigned body is now refused, and so is one signed with another key.
  const std::string body2 =
      R"([{"email":"b@example.com","timestamp":1700000001,"event":"delivered","sg_event_id":"e2"}])"
      "\r\n";
  EXPECT_EQ(client.post(path, body2).status, 403);
  sgs::test::test_signer stranger;
  EXPECT_EQ(
      client
          .request("POST", path, body2,
                   {{"X-Twilio-Email-Event-Webhook-Timestamp", "1700000001"},
                    {"X-Twilio-Email-Event-Webhook-Signature", stranger.sign("1700000001", body2)}})
          .status,
      403);
  // A body signed with the webhook's own key is accepted.
  std::shared_ptr<sgs::test::test_signer> signer;
  api.edit([&](fake_account& a) { signer = a.webhooks.at(0).signer; });
  ASSERT_TRUE(signer);
  EXPECT_EQ(
      client
          .request("POST", path, body2,
                   {{"X-Twilio-Email-Event-Webhook-Timestamp", "1700000001"},
                    {"X-Twilio-Email-Event-Webhook-Signature", signer->sign("1700000001", body2)}})
          .status,
      200);
  EXPECT_EQ(sgs::test::count_rows(server.db_file(), "delivered"), 2);
}

TEST_F(SetupTest, WaitForArrivalGivesUpAfterTheTimeout) {
  int slept = 0;
  EXPECT_FALSE(sgs::setup::wait_for_arrival(storage, source, std::nullopt, 3000ms, 1000ms,
                                            [&](std::chrono::milliseconds) {
                                              ++slept;
                                              return true;
                                            },
                                            {}));
  EXPECT_EQ(slept, 3);
}

TEST_F(SetupTest, ConfigureOnAnApiWithoutMultipleWebhooksRefusesToOverwriteTheLegacyOne) {
  api.edit([&](fake_account& a) {
    a.multi_webhook_api = false;
    a.webhooks = {fake_webhook{"legacy", "https://other.example/x", true, {}, {}}};
  });
  auto r = configure(our_url());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no multiple-webhook endpoints"), std::string::npos) << r.error;
  for (const auto& req : api.requests()) EXPECT_EQ(req.method, "GET");
  api.edit([](fake_account& a) { EXPECT_EQ(a.webhooks[0].url, "https://other.example/x"); });
}

TEST_F(SetupTest, CheckReadsTheLegacySingleWebhookWhenThereIsNoList) {
  fully_set_up();
  api.edit([](fake_account& a) { a.multi_webhook_api = false; });
  const auto items = check();
  EXPECT_FALSE(sgs::setup::any_failed(items)) << sgs::setup::render(items);
  EXPECT_EQ(api.count("/v3/user/webhooks/event/settings/signed"), 1);
}
