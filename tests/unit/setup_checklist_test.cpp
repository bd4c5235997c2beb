// The `check` checklist decisions and the `webhook configure` wording, from API answers
// (strings as SendGrid sends them) to ✓ / ✗ / – lines: no sockets.
#include <gtest/gtest.h>

#include "setup/account_api.hpp"
#include "setup/checklist.hpp"

using sgs::setup::account_answers;
using sgs::setup::api_answer;
using sgs::setup::check_context;
using sgs::setup::check_item;
using sgs::setup::local_state;
using sgs::setup::mark;

namespace {

const std::string key_a =
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/"
    "7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
const std::string url = "https://events.example.com/webhooks/sendgrid/marketing";

api_answer ok(std::string body) { return {200, std::move(body), {}}; }

std::string all_events_webhook(const std::string& hook_url, bool enabled, const std::string& key,
                               const std::string& except = "") {
  std::string out =
      R"({"id":"wh1","url":")" + hook_url + R"(","enabled":)" + (enabled ? "true" : "false");
  for (auto name : sgs::setup::stored_event_switches()) {
    out += ",\"" + std::string(name) + "\":" + (name == except ? "false" : "true");
  }
  if (!key.empty()) out += R"(,"public_key":")" + key + "\"";
  return out + "}";
}

// A fully set-up account: every item ✓.
account_answers good_account() {
  account_answers a;
  a.scopes = ok(R"({"scopes":["marketing.read","whitelabel.read","asm.groups.read"]})");
  a.domains = ok(R"([{"id":1,"domain":"example.com","subdomain":"em1","valid":true}])");
  a.senders = ok(R"({"results":[{"id":1,"from_email":"news@example.com","verified":true}]})");
  a.groups = ok(R"([{"id":12345,"name":"Weekly News"},{"id":7,"name":"Promos"}])");
  a.webhooks = ok(R"({"max_allowed":5,"webhooks":[)" + all_events_webhook(url, true, key_a) + "]}");
  return a;
}

check_context context() {
  check_context c;
  c.source = "marketing";
  c.collections = {"lists", "segments", "recipients", "campaigns"};
  c.from_email = "news@example.com";
  c.unsubscribe_group_id = 12345;
  c.expected_url = url;
  c.held_keys = {key_a};
  return c;
}

local_state received() {
  local_state l;
  l.database_exists = true;
  l.last_event_at = "2026-01-01T00:00:00.000Z";
  return l;
}

const check_item& find(const std::vector<check_item>& items, const std::string& title) {
  for (const auto& i : items)
    if (i.title == title) return i;
  static check_item none{mark::ok, "(missing)", "", ""};
  ADD_FAILURE() << "no item " << title << " in:\n" << sgs::setup::render(items);
  return none;
}

// Exactly the named item fails, with a fix containing `fix_part`.
void expect_only_failure(const std::vector<check_item>& items, const std::string& title,
                         const std::string& fix_part) {
  const auto& i = find(items, title);
  EXPECT_EQ(i.status, mark::failed) << sgs::setup::render(items);
  EXPECT_NE(i.fix.find(fix_part), std::string::npos) << i.fix;
  for (const auto& other : items) {
    if (other.title != title) {
      EXPECT_NE(other.status, mark::failed) << sgs::setup::render(items);
    }
  }
  EXPECT_TRUE(sgs::setup::any_failed(items));
}

}  // namespace

TEST(SetupChecklist, FullySetUpAccountIsAllTicks) {
  const auto items = sgs::setup::evaluate(good_account(), context(), received());
  for (const auto& i : items) EXPECT_EQ(i.status, mark::ok) << sgs::setup::render(items);
  EXPECT_FALSE(sgs::setup::any_failed(items));
  EXPECT_EQ(items.size(), 13u) << sgs::setup::render(items);  // 9 + one per collection (4)
  const std::string text = sgs::setup::render(items);
  EXPECT_NE(text.find("\u2713 authenticated domain: example.com"), std::string::npos) << text;
  EXPECT_NE(text.find("12345 'Weekly News' exists"), std::string::npos) << text;
}

TEST(SetupChecklist, RejectedKeyFailsAndNothingElseIsClaimed) {
  account_answers a;
  a.scopes = {
      401,
      R"({"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked","field":null,"help":null}]})",
      "HTTP 401"};
  const auto items = sgs::setup::evaluate(a, context(), received());
  EXPECT_EQ(items[0].status, mark::failed);
  EXPECT_NE(items[0].detail.find("was rejected (401)"), std::string::npos) << items[0].detail;
  EXPECT_NE(items[0].fix.find("Settings > API Keys"), std::string::npos);
  EXPECT_EQ(find(items, "account").status, mark::not_checkable);
}

TEST(SetupChecklist, KeyWithoutMarketingScopeFailsNamingIt) {
  auto a = good_account();
  a.scopes = ok(R"({"scopes":["whitelabel.read","mail.send"]})");
  const auto items = sgs::setup::evaluate(a, context(), received());
  expect_only_failure(items, "API key", "marketing.read");
}

TEST(SetupChecklist, LegacyMarketingScopeIsEnough) {
  auto a = good_account();
  a.scopes = ok(R"({"scopes":["marketing_campaigns.read"]})");
  EXPECT_EQ(sgs::setup::evaluate(a, context(), received())[0].status, mark::ok);
}

TEST(SetupChecklist, NoAuthenticatedDomainFailsWithTheUiPath) {
  auto a = good_account();
  a.domains = ok("[]");
  a.senders = ok(R"({"results":[{"id":1,"from_email":"news@example.com","verified":true}]})");
  expect_only_failure(sgs::setup::evaluate(a, context(), received()), "authenticated domain",
                      "Settings > Sender Authentication > Authenticate Your Domain");
}

TEST(SetupChecklist, UnverifiedDomainSaysToAddTheDnsRecords) {
  auto a = good_account();
  a.domains = ok(R"([{"id":1,"domain":"mail.example.org","valid":false}])");
  const auto items = sgs::setup::evaluate(a, context(), received());
  expect_only_failure(items, "authenticated domain", "DNS");
  EXPECT_NE(find(items, "authenticated domain").detail.find("mail.example.org"), std::string::npos);
}

TEST(SetupChecklist, FromEmailThatIsNotVerifiedFails) {
  auto a = good_account();
  a.domains = ok(R"([{"id":1,"domain":"other.org","valid":true}])");
  a.senders = ok(
      R"({"results":[{"id":1,"from_email":"info@other.org","verified":true},{"id":2,"from_email":"news@example.com","verified":false}]})");
  const auto items = sgs::setup::evaluate(a, context(), received());
  expect_only_failure(items, "verified sender",
                      "Settings > Sender Authentication > Verify a Single Sender");
  EXPECT_NE(find(items, "verified sender").detail.find("info@other.org"), std::string::npos);
}

TEST(SetupChecklist, FromEmailAtAnAuthenticatedDomainPassesWithoutASingleSender) {
  auto a = good_account();
  a.senders = ok(R"({"results":[]})");
  const auto items = sgs::setup::evaluate(a, context(), received());
  EXPECT_EQ(find(items, "verified sender").status, mark::ok) << sgs::setup::render(items);
}

TEST(SetupChecklist, MissingUnsubscribeGroupFailsListingTheExistingOnes) {
  auto c = context();
  c.unsubscribe_group_id = 999;
  const auto items = sgs::setup::evaluate(good_account(), c, received());
  expect_only_failure(items, "unsubscribe group", "Unsubscribe Groups");
  EXPECT_NE(find(items, "unsubscribe group").detail.find("12345 'Weekly News'"), std::string::npos);
}

TEST(SetupChecklist, UnsetUnsubscribeGroupIsNotAFailure) {
  auto c = context();
  c.unsubscribe_group_id.reset();
  auto a = good_account();
  a.groups.reset();
  const auto items = sgs::setup::evaluate(a, c, received());
  EXPECT_EQ(find(items, "unsubscribe group").status, mark::not_checkable);
  EXPECT_FALSE(sgs::setup::any_failed(items));
}

TEST(SetupChecklist, NoWebhookForOurUrlFailsAndNamesConfigure) {
  auto a = good_account();
  a.webhooks = ok(R"({"max_allowed":5,"webhooks":[)" +
                  all_events_webhook("https://other.example.com/hook", true, key_a) + "]}");
  const auto items = sgs::setup::evaluate(a, context(), received());
  expect_only_failure(items, "Event Webhook URL",
                      "sendgrid-source webhook configure --source marketing");
  EXPECT_NE(find(items, "Event Webhook URL").detail.find("https://other.example.com/hook"),
            std::string::npos);
}

TEST(SetupChecklist, ZeroWebhookAccountShapeIsReadAsNone) {
  auto a = good_account();
  a.webhooks = ok(R"({"max_allowed":5,"webhooks":[{}]})");
  const auto items = sgs::setup::evaluate(a, context(), received());
  expect_only_failure(items, "Event Webhook URL", "webhook configure");
  EXPECT_NE(find(items, "Event Webhook URL").detail.find("none"), std::string::npos);
}

TEST(SetupChecklist, UrlIsMatchedWithoutCaseInTheHostAndATrailingSlash) {
  auto a = good_account();
  a.webhooks = ok(
      R"({"max_allowed":5,"webhooks":[)" +
      all_events_webhook("https://EVENTS.example.com/webhooks/sendgrid/marketing/", true, key_a) +
      "]}");
  EXPECT_FALSE(sgs::setup::any_failed(sgs::setup::evaluate(a, context(), received())));
}

TEST(SetupChecklist, DisabledWebhookFails) {
  auto a = good_account();
  a.webhooks = ok(R"({"webhooks":[)" + all_events_webhook(url, false, key_a) + "]}");
  expect_only_failure(sgs::setup::evaluate(a, context(), received()), "Event Webhook enabled",
                      "Enabled");
}

TEST(SetupChecklist, MissingEventTypeFailsNamingIt) {
  auto a = good_account();
  a.webhooks = ok(R"({"webhooks":[)" + all_events_webhook(url, true, key_a, "open") + "]}");
  const auto items = sgs::setup::evaluate(a, context(), received());
  expect_only_failure(items, "Event Webhook event types", "Actions to be posted");
  EXPECT_EQ(find(items, "Event Webhook event types").detail, "not posted: open");
}

TEST(SetupChecklist, TypeSendGridLeavesOffByDefaultIsRecommendedNotRequired) {
  auto a = good_account();
  a.webhooks =
      ok(R"({"webhooks":[)" + all_events_webhook(url, true, key_a, "account_status_change") + "]}");
  const auto items = sgs::setup::evaluate(a, context(), received());
  EXPECT_FALSE(sgs::setup::any_failed(items)) << sgs::setup::render(items);
  EXPECT_EQ(find(items, "Event Webhook event types").status, mark::ok);
  const auto& optional = find(items, "Event Webhook optional event types");
  EXPECT_EQ(optional.status, mark::not_checkable);
  EXPECT_NE(optional.detail.find("not posted: account_status_change"), std::string::npos)
      << optional.detail;
  EXPECT_NE(optional.fix.find("webhook_event_types"), std::string::npos) << optional.fix;
  EXPECT_NE(optional.fix.find("webhook configure --source marketing"), std::string::npos);
  // Every type posted: no optional line at all.
  for (const auto& i : sgs::setup::evaluate(good_account(), context(), received()))
    EXPECT_NE(i.title, "Event Webhook optional event types");
}

TEST(SetupChecklist, ConfiguredEventTypesAreTheRequiredOnes) {
  auto a = good_account();
  a.webhooks =
      ok(R"({"webhooks":[)" + all_events_webhook(url, true, key_a, "account_status_change") + "]}");
  auto c = context();
  c.required_event_types = {"delivered", "account_status_change"};
  const auto items = sgs::setup::evaluate(a, c, received());
  expect_only_failure(items, "Event Webhook event types", "Actions to be posted");
  EXPECT_EQ(find(items, "Event Webhook event types").detail, "not posted: account_status_change");
  // A type not configured is only recommended, even one SendGrid turns on by default.
  a.webhooks = ok(R"({"webhooks":[)" + all_events_webhook(url, true, key_a, "open") + "]}");
  const auto second = sgs::setup::evaluate(a, c, received());
  EXPECT_FALSE(sgs::setup::any_failed(second)) << sgs::setup::render(second);
  EXPECT_EQ(find(second, "Event Webhook optional event types").status, mark::not_checkable);
}

TEST(SetupChecklist, SigningOffFails) {
  auto a = good_account();
  a.webhooks = ok(R"({"webhooks":[)" + all_events_webhook(url, true, "") + "]}");
  expect_only_failure(sgs::setup::evaluate(a, context(), received()), "Event Webhook signing",
                      "webhook configure --source marketing");
}

TEST(SetupChecklist, SigningWithAKeyWeDoNotHoldFailsAndShowsTheKeyToSet) {
  auto c = context();
  c.held_keys = {"MFkwOTHERKEY"};
  const auto items = sgs::setup::evaluate(good_account(), c, received());
  expect_only_failure(items, "Event Webhook signing", "webhook_verification_key = \"" + key_a);
}

TEST(SetupChecklist, HeldKeyIsComparedWithoutWhitespace) {
  auto c = context();
  c.held_keys = {key_a.substr(0, 20) + "\n   " + key_a.substr(20)};
  EXPECT_FALSE(sgs::setup::any_failed(sgs::setup::evaluate(good_account(), c, received())));
}

TEST(SetupChecklist, ForbiddenItemIsNotCheckableAndNamesThePermission) {
  auto a = good_account();
  a.domains =
      api_answer{403, R"({"errors":[{"field":null,"message":"access forbidden"}]})", "HTTP 403"};
  a.webhooks =
      api_answer{403, R"({"errors":[{"field":null,"message":"access forbidden"}]})", "HTTP 403"};
  const auto items = sgs::setup::evaluate(a, context(), received());
  EXPECT_EQ(find(items, "authenticated domain").status, mark::not_checkable);
  EXPECT_NE(find(items, "authenticated domain").fix.find("whitelabel.read"), std::string::npos);
  EXPECT_EQ(find(items, "Event Webhook").status, mark::not_checkable);
  EXPECT_NE(find(items, "Event Webhook").fix.find("user.webhooks.event.settings.read"),
            std::string::npos);
  EXPECT_FALSE(sgs::setup::any_failed(items)) << sgs::setup::render(items);
}

TEST(SetupChecklist, ServerErrorOnAnItemIsAFailureNotATick) {
  auto a = good_account();
  a.senders = api_answer{0, "", "timed out on GET /v3/verified_senders (gave up after 3 attempts)"};
  const auto items = sgs::setup::evaluate(a, context(), received());
  expect_only_failure(items, "verified sender", "run check again");
}

TEST(SetupChecklist, LegacySingleWebhookIsUsedWhenTheListEndpointIsMissing) {
  auto a = good_account();
  a.webhooks = api_answer{404, R"({"errors":[{"field":null,"message":"not found"}]})", "HTTP 404"};
  std::string legacy = all_events_webhook(url, true, "");
  a.legacy_webhook = ok(legacy);
  a.legacy_signed = ok(R"({"public_key":")" + key_a + "\"}");
  const auto items = sgs::setup::evaluate(a, context(), received());
  EXPECT_FALSE(sgs::setup::any_failed(items)) << sgs::setup::render(items);
  EXPECT_NE(find(items, "Event Webhook URL").detail.find("legacy"), std::string::npos);
}

TEST(SetupChecklist, WithoutPublicUrlTheWebhookIsMatchedByItsPath) {
  auto c = context();
  c.expected_url.clear();
  const auto items = sgs::setup::evaluate(good_account(), c, received());
  EXPECT_EQ(find(items, "Event Webhook URL").status, mark::ok) << sgs::setup::render(items);
  c.source = "other";
  EXPECT_EQ(find(sgs::setup::evaluate(good_account(), c, received()), "Event Webhook URL").status,
            mark::failed);
}

TEST(SetupChecklist, NoEventYetIsInformationNotFailure) {
  local_state none;
  none.database_exists = true;
  const auto items = sgs::setup::evaluate(good_account(), context(), none);
  EXPECT_EQ(items.back().status, mark::not_checkable);
  EXPECT_NE(items.back().detail.find("none received yet"), std::string::npos);
  EXPECT_FALSE(sgs::setup::any_failed(items));
}

TEST(SetupChecklist, RenderPutsTheFixUnderAFailedLine) {
  std::vector<check_item> items{{mark::failed, "authenticated domain", "none", "do X"},
                                {mark::ok, "API key", "accepted", "unused"}};
  EXPECT_EQ(sgs::setup::render(items),
            "  \u2717 authenticated domain: none\n      fix: do X\n  \u2713 API key: accepted\n");
}

TEST(WebhookConfigureWording, ForbiddenNamesThePermissionsToAdd) {
  const auto m = sgs::setup::webhook_failure_message(
      "marketing", "list the Event Webhooks", 403,
      R"({"errors":[{"field":null,"message":"access forbidden"}]})", "", 0, true);
  EXPECT_NE(m.find("user.webhooks.event.settings.read"), std::string::npos) << m;
  EXPECT_NE(m.find("user.webhooks.event.settings.update"), std::string::npos) << m;
  EXPECT_NE(m.find("user.webhooks.event.test.create"), std::string::npos) << m;
  EXPECT_NE(m.find("'marketing'"), std::string::npos) << m;
}

TEST(WebhookConfigureWording, PlanLimitIsSaidPlainly) {
  const auto m = sgs::setup::webhook_failure_message(
      "marketing", "create an Event Webhook", 400,
      R"({"errors":[{"message":"You have reached the maximum number of webhooks per your current billing plan."}]})",
      "", 2, false);
  EXPECT_NE(m.find("plan allows no more Event Webhooks (at most 2)"), std::string::npos) << m;
}

TEST(WebhookConfigureDecisions, DuplicateUrlAnswerNamesTheExistingWebhook) {
  EXPECT_EQ(
      sgs::setup::duplicate_webhook_id(
          R"({"errors":[{"id":"123abc456def890ghi","message":"Webhook at 'https://example.com' already exists. Please provide a unique URL.","url":"https://example.com"}]})"),
      "123abc456def890ghi");
  EXPECT_EQ(
      sgs::setup::duplicate_webhook_id(R"({"errors":[{"message":"'x' is not a valid url"}]})"), "");
}

TEST(WebhookConfigureDecisions, SettingsBodyEnablesTheConfiguredEventTypesOnly) {
  const std::string body =
      sgs::setup::webhook_settings_body(url, sgs::config::default_webhook_event_types());
  const auto hook = sgs::setup::parse_webhook(body);
  ASSERT_TRUE(hook);
  EXPECT_TRUE(hook->enabled);
  EXPECT_EQ(hook->url, url);
  EXPECT_EQ(hook->events_on.size(), sgs::setup::stored_event_switches().size() - 1);
  // Left out, not turned off: an update keeps what the operator turned on.
  EXPECT_EQ(body.find("account_status_change"), std::string::npos);
  EXPECT_EQ(body.find("oauth"), std::string::npos);  // an update keeps the operator's OAuth
  const auto two = sgs::setup::parse_webhook(
      sgs::setup::webhook_settings_body(url, {"account_status_change", "open"}));
  ASSERT_TRUE(two);
  EXPECT_EQ(two->events_on, (std::vector<std::string>{"open", "account_status_change"}));
}

namespace {

TEST(SetupChecklist, EachConfiguredCollectionSaysWhetherTheScopesCoverIt) {
  auto a = good_account();
  a.scopes = ok(R"({"scopes":["marketing.read","suppression.read","whitelabel.read"]})");
  auto ctx = context();
  ctx.collections = {"lists", "bounces", "templates", "messages"};
  const auto items = sgs::setup::evaluate(a, ctx, received());
  const std::string text = sgs::setup::render(items);
  EXPECT_NE(text.find("\u2713 collection lists: covered by 'marketing.read'"), std::string::npos)
      << text;
  EXPECT_NE(text.find("\u2713 collection bounces: covered by 'suppression.read'"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\u2013 collection templates: not covered: the sync skips it (the key has "
                      "no 'templates.read' scope)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\u2013 collection messages: not covered"), std::string::npos) << text;
  EXPECT_NE(text.find("fix: add 'email_activity.read' to the key"), std::string::npos) << text;
  // A collection the key may not read is skipped by the sync, not a failure of the set-up.
  EXPECT_FALSE(sgs::setup::any_failed(items)) << text;
}

TEST(SetupChecklist, AllExpandsToEveryCollectionButTheOptInMessages) {
  auto a = good_account();
  auto ctx = context();
  ctx.collections = {"all"};
  const auto items = sgs::setup::evaluate(a, ctx, received());
  const std::string text = sgs::setup::render(items);
  EXPECT_NE(text.find("collection stats_daily:"), std::string::npos) << text;
  EXPECT_NE(text.find("collection recipients:"), std::string::npos) << text;
  EXPECT_EQ(text.find("collection messages:"), std::string::npos) << text;
  EXPECT_FALSE(sgs::setup::any_failed(items)) << text;
}

}  // namespace
