// Unit tests for lib/events: body parsing (examples, vectors, leniency, errors) and dedup keys.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "events/event.hpp"
#include "events/parse.hpp"

namespace sgs::events {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

parsed_batch parse_ok(std::string_view body) {
  auto result = parse_batch(body);
  if (auto* error = std::get_if<batch_error>(&result)) {
    ADD_FAILURE() << "unexpected batch_error: " << error->message;
    return {};
  }
  return std::get<parsed_batch>(std::move(result));
}

std::string parse_error(std::string_view body) {
  auto result = parse_batch(body);
  if (auto* error = std::get_if<batch_error>(&result)) return error->message;
  const auto& batch = std::get<parsed_batch>(result);
  ADD_FAILURE() << "the body was accepted (" << batch.events.size() << " events, "
                << batch.rejected.size() << " rejected) but a batch_error was expected";
  return {};
}

bool accepted(std::string_view body) {
  return std::holds_alternative<parsed_batch>(parse_batch(body));
}

// One event wrapped in an array, the way SendGrid posts it.
std::string as_array(std::string_view element) { return "[" + std::string(element) + "]\r\n"; }

std::string read_data_file(const std::string& name) {
  const std::filesystem::path path = std::filesystem::path(SGS_TEST_DATA_DIR) / "events" / name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// ---- sendgrid-api.md 8.4: one example per type ------------------------------------------------

constexpr std::string_view processed_example =
    R"({"email":"alex@example.com","timestamp":1513299569,"pool":{"name":"new_MY_test","id":210},"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"processed","category":"cat facts","sg_event_id":"rbtnWrG1DVDGGGFHFyun0A==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000000000000"})";
constexpr std::string_view dropped_example =
    R"({"email":"alex@example.com","timestamp":1513299569,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"dropped","category":"cat facts","sg_event_id":"zmzJhfJgAfUSOW80yEbPyw==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","reason":"Bounced Address","status":"5.0.0"})";
constexpr std::string_view delivered_example =
    R"({"email":"alex@example.com","timestamp":1513299569,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"delivered","ip":"168.1.1.1","category":"cat facts","sg_event_id":"rWVYmVk90MjZJ9iohOBa3w==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","response":"250 OK","tls":1})";
constexpr std::string_view deferred_example =
    R"({"email":"alex@example.com","domain":"example.com","from":"test@example.com","timestamp":1513299569,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"deferred","category":"cat facts","sg_event_id":"t7LEShmowp86DTdUW8M-GQ==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","response":"400 try again later","attempt":"5"})";
constexpr std::string_view bounce_example =
    R"({"email":"alex@example.com","timestamp":1513299569,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","bounce_classification":"Invalid Address","event":"bounce","category":"cat facts","sg_event_id":"6g4ZI7SA-xmRDv57GoPIPw==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","reason":"500 unknown recipient","status":"5.0.0","type":"bounce"})";
constexpr std::string_view blocked_example =
    R"({"email":"invalid@gmail.com","event":"bounce","ip":"167.89.101.76","reason":"552 5.2.2 The email account that you tried to reach is over quota and inactive. ...","sg_event_id":"Ym91bmNlLTAtMTk5NDIxMTItcU53QkxnUFFRalc2REp2S1F3U0Fidy0w","sg_message_id":"qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0","smtp-id":"<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>","status":"5.2.2","timestamp":1619651147,"tls":1,"type":"blocked"})";
constexpr std::string_view bounce_without_status_example =
    R"({"bounce_classification":"Unclassified","email":"noemail@this.does.not.exist.tld","event":"bounce","reason":"unable to get mx info: failed to get IPs from PTR record: lookup <nil>: unrecognized address","sg_event_id":"Ym91bmNlLTQtNTA0ODUxOTUtZXVvMmlLeGRTYXlQRjRZRTQtLUk3QS0w","sg_message_id":"euo2iKxdSayPF4YE4--I7A.recvd-5f54b5d587-pczjm-1-67BADEEA-6.0","smtp-id":"<870b3a2a-160c-4fc8-bc9a-bd0d5b943b81@forum.umbraco.com>","timestamp":1740300320,"tls":0,"type":"blocked"})";
constexpr std::string_view open_example =
    R"json({"email":"alex@example.com","timestamp":1513299569,"event":"open","sg_machine_open":false,"category":"cat facts","sg_event_id":"FOTFFO0ecsBE-zxFXfs6WA==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","useragent":"Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; .NET CLR 2.0.50727)","ip":"255.255.255.255"})json";
constexpr std::string_view click_example =
    R"({"sg_event_id":"sendgrid_internal_event_id","sg_message_id":"sendgrid_internal_message_id","ip":"255.255.255.255","useragent":"Mozilla/5.0 (iPhone; CPU iPhone OS 7_1_2 like Mac OS X) AppleWebKit/537.51.2 (KHTML, like Gecko) Version/7.0 Mobile/11D257 Safari/9537.53","event":"click","email":"email@example.com","timestamp":1249948800,"url":"http://example.com/blog/news.html","url_offset":{"index":0,"type":"html"},"unique_arg_key":"unique_arg_value","category":["category1","category2"],"newsletter":{"newsletter_user_list_id":"10557865","newsletter_id":"1943530","newsletter_send_id":"2308608"},"asm_group_id":1})";
constexpr std::string_view spamreport_example =
    R"({"email":"alex@example.com","timestamp":1513299569,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"spamreport","sg_event_id":"37nvH5QBz858KGVYCM4uOA==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"})";
constexpr std::string_view unsubscribe_example =
    R"({"email":"alex@example.com","timestamp":1513299569,"event":"unsubscribe","category":"cat facts","sg_event_id":"zz_BjPgU_5pS-J8vlfB1sg==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"})";
constexpr std::string_view group_unsubscribe_example =
    R"json({"email":"alex@example.com","timestamp":1513299569,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"group_unsubscribe","category":"cat facts","sg_event_id":"ahSCB7xYcXFb-hEaawsPRw==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","useragent":"Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; .NET CLR 2.0.50727)","ip":"255.255.255.255","url":"http://www.example.com/","asm_group_id":10})json";
constexpr std::string_view group_resubscribe_example =
    R"json({"email":"alex@example.com","timestamp":1513299569,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"group_resubscribe","category":"cat facts","sg_event_id":"w_u0vJhLT-OFfprar5N93g==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","useragent":"Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; .NET CLR 2.0.50727)","ip":"255.255.255.255","url":"http://www.example.com/","asm_group_id":10})json";
constexpr std::string_view account_status_change_example =
    R"({"event":"account_status_change","sg_event_id":"MjEzNTg5OTcyOC10ZXJtaW5hdGUtMTcwNzg1MTUzMQ","timestamp":1709142428,"type":"compliance_suspend"})";
constexpr std::string_view single_send_open_example =
    R"json({"category":[],"email":"alex@example.com","event":"open","ip":"127.0.0.1","mc_stats":"singlesend","phase_id":"send","send_at":"1591726752372","sg_content_type":"html","sg_event_id":"sendgrid_internal_event_id","sg_message_id":"sendgrid_internal_message_id","sg_template_id":"sendgrid_template_id","sg_template_name":"sendgrid_template_name","singlesend_id":"sendgrid_singlesend_id","singlesend_name":"Example Single Send","template_hash":"sendgrid_template_hash","template_id":"sendgrid_template_id","template_version_id":"sendgrid_template_version_id","timestamp":1591726752372,"useragent":"Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; .NET CLR 2.0.50727)"})json";
constexpr std::string_view legacy_campaign_example =
    R"({"category":[],"email":"tadpole_0010@stbase-018.sjc1.sendgrid.net","event":"processed","marketing_campaign_id":23314,"marketing_campaign_name":"unique args ab","marketing_campaign_version":"B","marketing_campaign_split_id":13471,"post_type":"event","sg_event_id":"qNOzbkTuTNCdxa1eXEpnXg","sg_message_id":"5lFl7Fr1Rjme_EyzNNB_5A.stfilter-015.5185.55F883172.0","sg_user_id":939115,"smtp-id":"<5lFl7Fr1Rjme_EyzNNB_5A@stismtpd-006.sjc1.sendgrid.net>","timestamp":1442349848})";

// sendgrid-api.md 9.2 / 9.3, byte for byte.
constexpr std::string_view vector_v1 =
    "[{\"email\":\"hello@world.com\",\"event\":\"dropped\",\"reason\":\"Bounced "
    "Address\",\"sg_event_id\":\"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA\",\"sg_"
    "message_id\":\"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0\","
    "\"smtp-id\":\"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>\",\"timestamp\":"
    "1600112492}]\r\n";
constexpr std::string_view vector_v2 =
    "[{\"email\":\"invalid@gmail.com\",\"event\":\"processed\",\"send_at\":0,\"sg_event_id\":"
    "\"cHJvY2Vzc2VkLTE5OTQyMTEyLXFOd0JMZ1BRUWpXNkRKdktRd1NBYnctMA\",\"sg_message_id\":"
    "\"qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0\",\"smtp-id\":"
    "\"<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>\",\"timestamp\":1619651146},\r\n{"
    "\"email\":\"invalid@gmail.com\",\"event\":\"bounce\",\"ip\":\"167.89.101.76\",\"reason\":"
    "\"552 5.2.2 The email account that you tried to reach is over quota and inactive. Please "
    "direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm "
    "c17si1130468pgv.34 - gsmtp\",\"sg_event_id\":"
    "\"Ym91bmNlLTAtMTk5NDIxMTItcU53QkxnUFFRalc2REp2S1F3U0Fidy0w\",\"sg_message_id\":"
    "\"qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0\",\"smtp-id\":"
    "\"<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>\",\"status\":\"5.2.2\","
    "\"timestamp\":1619651147,\"tls\":1,\"type\":\"blocked\"}]\r\n";

TEST(EventsExamples, ProcessedParsesPoolCategorySmtpIdAndIds) {
  const auto batch = parse_ok(as_array(processed_example));
  ASSERT_EQ(batch.events.size(), 1u);
  const event& e = batch.events[0];
  EXPECT_EQ(e.kind, event_type::processed);
  EXPECT_EQ(e.event_name, "processed");
  EXPECT_EQ(e.email, "alex@example.com");
  EXPECT_EQ(e.timestamp, 1513299569);
  EXPECT_EQ(e.pool_name, "new_MY_test");
  EXPECT_EQ(e.pool_id, 210);
  EXPECT_EQ(e.smtp_id, "<14c5d75ce93.dfd.64b469@ismtpd-555>");
  EXPECT_EQ(e.category, R"(["cat facts"])");
  EXPECT_EQ(e.sg_event_id, "rbtnWrG1DVDGGGFHFyun0A==");
  EXPECT_EQ(e.sg_message_id,
            "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000000000000");
  EXPECT_EQ(e.custom_args, "{}");
  EXPECT_EQ(e.raw, processed_example);
}

TEST(EventsExamples, DroppedParsesReasonAndStatus) {
  const auto batch = parse_ok(as_array(dropped_example));
  ASSERT_EQ(batch.events.size(), 1u);
  const event& e = batch.events[0];
  EXPECT_EQ(e.kind, event_type::dropped);
  EXPECT_EQ(e.reason, "Bounced Address");
  EXPECT_EQ(e.status, "5.0.0");
  EXPECT_EQ(e.category, R"(["cat facts"])");
  EXPECT_FALSE(e.response);
}

TEST(EventsExamples, DeliveredParsesResponseIpAndIntegerTls) {
  const auto batch = parse_ok(as_array(delivered_example));
  ASSERT_EQ(batch.events.size(), 1u);
  const event& e = batch.events[0];
  EXPECT_EQ(e.kind, event_type::delivered);
  EXPECT_EQ(e.response, "250 OK");
  EXPECT_EQ(e.ip, "168.1.1.1");
  EXPECT_EQ(e.tls, 1);
  EXPECT_EQ(e.sg_event_id, "rWVYmVk90MjZJ9iohOBa3w==");
}

TEST(EventsExamples, DeferredParsesStringAttemptDomainAndFrom) {
  const auto batch = parse_ok(as_array(deferred_example));
  ASSERT_EQ(batch.events.size(), 1u);
  const event& e = batch.events[0];
  EXPECT_EQ(e.kind, event_type::deferred);
  EXPECT_EQ(e.attempt, 5);
  EXPECT_EQ(e.domain, "example.com");
  EXPECT_EQ(e.from, "test@example.com");
  EXPECT_EQ(e.response, "400 try again later");
  EXPECT_EQ(e.custom_args, "{}");  // domain and from are SendGrid's, not custom args
}

TEST(EventsExamples, HardBounceParsesClassificationReasonStatusAndType) {
  const auto batch = parse_ok(as_array(bounce_example));
  ASSERT_EQ(batch.events.size(), 1u);
  const event& e = batch.events[0];
  EXPECT_EQ(e.kind, event_type::bounce);
  EXPECT_EQ(e.bounce_classification, "Invalid Address");
  EXPECT_EQ(e.reason, "500 unknown recipient");
  EXPECT_EQ(e.status, "5.0.0");
  EXPECT_EQ(e.type, "bounce");
}

TEST(EventsExamples, BlockedBounceParsesIpTlsAndType) {
  const auto batch = parse_ok(as_array(blocked_example));
  ASSERT_EQ(batch.events.size(), 1u);
  const event& e = batch.events[0];
  EXPECT_EQ(e.kind, event_type::bounce);
  EXPECT_EQ(e.type, "blocked");
  EXPECT_EQ(e.tls, 1);
  EXPECT_EQ(e.ip, "167.89.101.76");
  EXPECT_EQ(e.status, "5.2.2");
  EXPECT_EQ(e.category, "[]");
}

TEST(EventsExamples, BounceWithoutStatusLeavesStatusAbsent) {
  const auto batch = parse_ok(as_array(bounce_without_status_example));
  ASSERT_EQ(batch.events.size(), 1u);
  const event& e = batch.events[0];
  EXPECT_FALSE(e.status);
  EXPECT_EQ(e.tls, 0);
  EXPECT_EQ(e.bounce_classification, "Unclassified");
  EXPECT_EQ(e.timestamp, 1740300320);
}

TEST(EventsExamples, OpenParsesMachineOpenFalseAsZeroAndUseragent) {
  const auto batch = parse_ok(as_array(open_example));
  ASSERT_EQ(batch.events.size(), 1u);
  const event& e = batch.events[0];
  EXPECT_EQ(e.kind, event_type::open);
  EXPECT_EQ(e.sg_machine_open, 0);
  EXPECT_EQ(e.useragent,
            "Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; .NET CLR "
            "2.0.50727)");
  EXPECT_EQ(e.ip, "255.255.255.255");
  EXPECT_EQ(table_name(e.kind), "_open");
}

TEST(EventsExamples, ClickParsesUrlOffsetCategoryArrayNewsletterAndCustomArg) {
  const auto batch = parse_ok(as_array(click_example));
  ASSERT_EQ(batch.events.size(), 1u);
  const event& e = batch.events[0];
  EXPECT_EQ(e.kind, event_type::click);
  EXPECT_EQ(e.url, "http://example.com/blog/news.html");
  EXPECT_EQ(e.url_offset_index, 0);
  EXPECT_EQ(e.url_offset_type, "html");
  EXPECT_EQ(e.category, R"(["category1","category2"])");
  EXPECT_EQ(
      e.newsletter,
      R"({"newsletter_user_list_id":"10557865","newsletter_id":"1943530","newsletter_send_id":"2308608"})");
  EXPECT_EQ(e.custom_args, R"({"unique_arg_key":"unique_arg_value"})");
  EXPECT_EQ(e.asm_group_id, 1);
  EXPECT_EQ(e.email, "email@example.com");
}

TEST(EventsExamples, SpamreportMapsToSpamReportTable) {
  const auto batch = parse_ok(as_array(spamreport_example));
  ASSERT_EQ(batch.events.size(), 1u);
  const event& e = batch.events[0];
  EXPECT_EQ(e.kind, event_type::spamreport);
  EXPECT_EQ(table_name(e.kind), "spam_report");
  EXPECT_EQ(e.smtp_id, "<14c5d75ce93.dfd.64b469@ismtpd-555>");
  EXPECT_EQ(e.category, "[]");
}

TEST(EventsExamples, UnsubscribeParsesCategoryAndIds) {
  const auto batch = parse_ok(as_array(unsubscribe_example));
  ASSERT_EQ(batch.events.size(), 1u);
  const event& e = batch.events[0];
  EXPECT_EQ(e.kind, event_type::unsubscribe);
  EXPECT_EQ(e.category, R"(["cat facts"])");
  EXPECT_EQ(e.sg_event_id, "zz_BjPgU_5pS-J8vlfB1sg==");
}

TEST(EventsExamples, GroupUnsubscribeParsesAsmGroupIdUrlAndIp) {
  const auto batch = parse_ok(as_array(group_unsubscribe_example));
  ASSERT_EQ(batch.events.size(), 1u);
  const event& e = batch.events[0];
  EXPECT_EQ(e.kind, event_type::group_unsubscribe);
  EXPECT_EQ(e.asm_group_id, 10);
  EXPECT_EQ(e.url, "http://www.example.com/");
  EXPECT_EQ(e.ip, "255.255.255.255");
}

TEST(EventsExamples, GroupResubscribeParsesAsmGroupId) {
  const auto batch = parse_ok(as_array(group_resubscribe_example));
  ASSERT_EQ(batch.events.size(), 1u);
  const event& e = batch.events[0];
  EXPECT_EQ(e.kind, event_type::group_resubscribe);
  EXPECT_EQ(e.asm_group_id, 10);
  EXPECT_EQ(e.sg_event_id, "w_u0vJhLT-OFfprar5N93g==");
}

TEST(EventsExamples, AccountStatusChangeNeedsNoEmail) {
  const auto batch = parse_ok(as_array(account_status_change_example));
  ASSERT_EQ(batch.events.size(), 1u);
  ASSERT_TRUE(batch.rejected.empty());
  const event& e = batch.events[0];
  EXPECT_EQ(e.kind, event_type::account_status_change);
  EXPECT_FALSE(e.email);
  EXPECT_EQ(e.type, "compliance_suspend");
  EXPECT_EQ(e.timestamp, 1709142428);
}

TEST(EventsExamples, SingleSendOpenParsesTemplateFieldsAndStringSendAt) {
  const auto batch = parse_ok(as_array(single_send_open_example));
  ASSERT_EQ(batch.events.size(), 1u);
  const event& e = batch.events[0];
  EXPECT_EQ(e.category, "[]");
  EXPECT_EQ(e.send_at, 1591726752372);
  EXPECT_EQ(e.timestamp, 1591726752372);  // milliseconds in the docs example: stored as sent
  EXPECT_EQ(e.mc_stats, "singlesend");
  EXPECT_EQ(e.phase_id, "send");
  EXPECT_EQ(e.sg_content_type, "html");
  EXPECT_EQ(e.sg_template_id, "sendgrid_template_id");
  EXPECT_EQ(e.sg_template_name, "sendgrid_template_name");
  EXPECT_EQ(e.singlesend_id, "sendgrid_singlesend_id");
  EXPECT_EQ(e.singlesend_name, "Example Single Send");
  EXPECT_EQ(e.template_hash, "sendgrid_template_hash");
  EXPECT_EQ(e.template_id, "sendgrid_template_id");
  EXPECT_EQ(e.template_version_id, "sendgrid_template_version_id");
  EXPECT_EQ(e.custom_args, "{}");
}

TEST(EventsExamples, LegacyCampaignProcessedParsesMarketingCampaignFields) {
  const auto batch = parse_ok(as_array(legacy_campaign_example));
  ASSERT_EQ(batch.events.size(), 1u);
  const event& e = batch.events[0];
  EXPECT_EQ(e.marketing_campaign_id, 23314);
  EXPECT_EQ(e.marketing_campaign_name, "unique args ab");
  EXPECT_EQ(e.marketing_campaign_version, "B");
  EXPECT_EQ(e.marketing_campaign_split_id, 13471);
  EXPECT_EQ(e.post_type, "event");
  EXPECT_EQ(e.sg_user_id, 939115);
  EXPECT_EQ(e.custom_args, "{}");
}

TEST(EventsExamples, AllExamplesInOneCrLfSeparatedBodyKeepOrderAndRaw) {
  const std::vector<std::string_view> examples = {processed_example,
                                                  dropped_example,
                                                  delivered_example,
                                                  deferred_example,
                                                  bounce_example,
                                                  blocked_example,
                                                  bounce_without_status_example,
                                                  open_example,
                                                  click_example,
                                                  spamreport_example,
                                                  unsubscribe_example,
                                                  group_unsubscribe_example,
                                                  group_resubscribe_example,
                                                  account_status_change_example,
                                                  single_send_open_example,
                                                  legacy_campaign_example};
  std::string body = "[";
  for (std::size_t i = 0; i < examples.size(); ++i) {
    if (i > 0) body += ",\r\n";
    body += examples[i];
  }
  body += "]\r\n";
  const auto batch = parse_ok(body);
  ASSERT_EQ(batch.events.size(), examples.size());
  EXPECT_TRUE(batch.rejected.empty());
  for (std::size_t i = 0; i < examples.size(); ++i) EXPECT_EQ(batch.events[i].raw, examples[i]);
}

TEST(EventsExamples, HtmlEscapedSmtpIdIsUnescapedButRawKeepsTheEscapes) {
  const std::string element =
      R"({"email":"a@example.com","event":"delivered","smtp-id":"\u003c14c5d75ce93.dfd.64b469@ismtpd-555\u003e","timestamp":1})";
  const auto batch = parse_ok(as_array(element));
  ASSERT_EQ(batch.events.size(), 1u);
  EXPECT_EQ(batch.events[0].smtp_id, "<14c5d75ce93.dfd.64b469@ismtpd-555>");
  EXPECT_EQ(batch.events[0].raw, element);
}

TEST(EventsVectors, V1ParsesAndRawIsTheExactElementBytes) {
  ASSERT_EQ(vector_v1.size(), 327u);
  const auto batch = parse_ok(vector_v1);
  ASSERT_EQ(batch.events.size(), 1u);
  const event& e = batch.events[0];
  EXPECT_EQ(e.kind, event_type::dropped);
  EXPECT_EQ(e.email, "hello@world.com");
  EXPECT_EQ(e.reason, "Bounced Address");
  EXPECT_EQ(e.sg_event_id, "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA");
  EXPECT_EQ(e.smtp_id, "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>");
  EXPECT_EQ(e.timestamp, 1600112492);
  EXPECT_EQ(e.raw, vector_v1.substr(1, vector_v1.size() - 1 - 3));  // without "[" and "]\r\n"
}

TEST(EventsVectors, V2ParsesBothEventsAndRawExcludesTheCrLfSeparators) {
  ASSERT_EQ(vector_v2.size(), 889u);
  const auto batch = parse_ok(vector_v2);
  ASSERT_EQ(batch.events.size(), 2u);
  const std::size_t split = vector_v2.find("},\r\n{");
  ASSERT_NE(split, std::string_view::npos);
  EXPECT_EQ(batch.events[0].raw, vector_v2.substr(1, split));  // "{...}" up to and with '}'
  EXPECT_EQ(batch.events[1].raw, vector_v2.substr(split + 4, vector_v2.size() - (split + 4) - 3));
  EXPECT_EQ(batch.events[0].kind, event_type::processed);
  EXPECT_EQ(batch.events[0].send_at, 0);
  EXPECT_EQ(batch.events[1].kind, event_type::bounce);
  EXPECT_EQ(batch.events[1].type, "blocked");
  EXPECT_EQ(batch.events[1].tls, 1);
  EXPECT_EQ(batch.events[1].reason,
            "552 5.2.2 The email account that you tried to reach is over quota and inactive. "
            "Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm "
            "c17si1130468pgv.34 - gsmtp");
}

// ---- leniency (sendgrid-api.md 8.3) ------------------------------------------------------------

// Parses one element that must become an event.
parsed_batch one_event(std::string_view element) {
  auto batch = parse_ok(as_array(element));
  EXPECT_EQ(batch.events.size(), 1u) << element;
  if (!batch.rejected.empty()) ADD_FAILURE() << "rejected: " << batch.rejected[0].reason;
  return batch;
}

// Parses one element that must be rejected; returns the reason.
std::string rejected_reason(std::string_view element) {
  const auto batch = parse_ok(as_array(element));
  EXPECT_TRUE(batch.events.empty()) << element;
  if (batch.rejected.size() != 1) {
    ADD_FAILURE() << "expected one rejected element for " << element;
    return {};
  }
  EXPECT_EQ(batch.rejected[0].raw, element);
  return batch.rejected[0].reason;
}

TEST(EventsLeniency, TimestampAcceptsIntegerNumericStringAndFloorsFloats) {
  EXPECT_EQ(one_event(R"({"event":"open","email":"a","timestamp":123456789})").events[0].timestamp,
            123456789);
  EXPECT_EQ(
      one_event(R"({"event":"open","email":"a","timestamp":"123456789"})").events[0].timestamp,
      123456789);
  EXPECT_EQ(one_event(R"({"event":"open","email":"a","timestamp":1.7e9})").events[0].timestamp,
            1700000000);
  EXPECT_EQ(
      one_event(R"({"event":"open","email":"a","timestamp":1513299569.97})").events[0].timestamp,
      1513299569);
  EXPECT_EQ(one_event(R"({"event":"open","email":"a","timestamp":-1.5})").events[0].timestamp, -2);
}

TEST(EventsLeniency, AttemptAcceptsStringAndInteger) {
  EXPECT_EQ(one_event(R"({"event":"deferred","email":"a","attempt":"5"})").events[0].attempt, 5);
  EXPECT_EQ(one_event(R"({"event":"deferred","email":"a","attempt":5})").events[0].attempt, 5);
}

TEST(EventsLeniency, FlagsAcceptZeroOneAndBooleans) {
  const auto batch =
      one_event(R"({"event":"open","email":"a","tls":true,"cert_err":0,"sg_machine_open":true})");
  EXPECT_EQ(batch.events[0].tls, 1);
  EXPECT_EQ(batch.events[0].cert_err, 0);
  EXPECT_EQ(batch.events[0].sg_machine_open, 1);
  const auto other =
      one_event(R"({"event":"open","email":"a","tls":false,"cert_err":true,"sg_machine_open":0})");
  EXPECT_EQ(other.events[0].tls, 0);
  EXPECT_EQ(other.events[0].cert_err, 1);
  EXPECT_EQ(other.events[0].sg_machine_open, 0);
}

TEST(EventsLeniency, SendAtAcceptsNumericStringAndInteger) {
  EXPECT_EQ(
      one_event(R"({"event":"open","email":"a","send_at":"1591726752372"})").events[0].send_at,
      1591726752372);
  EXPECT_EQ(one_event(R"({"event":"open","email":"a","send_at":0})").events[0].send_at, 0);
}

TEST(EventsLeniency, IntegerIdsAcceptNumericStrings) {
  const auto batch = one_event(
      R"({"event":"click","email":"a","asm_group_id":"10","marketing_campaign_id":"23314"})");
  EXPECT_EQ(batch.events[0].asm_group_id, 10);
  EXPECT_EQ(batch.events[0].marketing_campaign_id, 23314);
}

TEST(EventsLeniency, SgMessageIdIsTrimmedOfSpaces) {
  EXPECT_EQ(
      one_event(R"({"event":"open","email":"a","sg_message_id":" 14c5d75ce93.dfd.64b469.0 "})")
          .events[0]
          .sg_message_id,
      "14c5d75ce93.dfd.64b469.0");
}

TEST(EventsLeniency, CategoryStringBecomesOneElementArrayKeepingItsEscapes) {
  EXPECT_EQ(one_event(R"({"event":"open","email":"a","category":"x"})").events[0].category,
            R"(["x"])");
  EXPECT_EQ(one_event(R"({"event":"open","email":"a","category":"a \"q\" \u003cb\u003e"})")
                .events[0]
                .category,
            R"(["a \"q\" \u003cb\u003e"])");
}

TEST(EventsLeniency, CategoryArrayIsKeptAndEmptyOrAbsentIsEmptyArray) {
  EXPECT_EQ(one_event(R"({"event":"open","email":"a","category":["x","y z"]})").events[0].category,
            R"(["x","y z"])");
  EXPECT_EQ(one_event(R"({"event":"open","email":"a","category":["x"]})").events[0].category,
            R"(["x"])");
  EXPECT_EQ(one_event(R"({"event":"open","email":"a","category":[]})").events[0].category, "[]");
  EXPECT_EQ(one_event(R"({"event":"open","email":"a"})").events[0].category, "[]");
  EXPECT_EQ(one_event(R"({"event":"open","email":"a","category":null})").events[0].category, "[]");
}

TEST(EventsLeniency, CategoryArrayIsValidJsonThatSqliteCanRead) {
  // Round trip through a real JSON parser: what we store is JSON, whatever the spacing sent.
  const auto batch =
      one_event("{\"event\":\"open\",\"email\":\"a\",\"category\":[ \"x\" ,\r\n \"\\u00e9\" ]}");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(batch.events[0].category).get(doc), simdjson::SUCCESS);
  simdjson::dom::array array;
  ASSERT_EQ(doc.get_array().get(array), simdjson::SUCCESS);
  ASSERT_EQ(array.size(), 2u);
  std::string_view second;
  ASSERT_EQ(array.at(1).get(second), simdjson::SUCCESS);
  EXPECT_EQ(second, "\xC3\xA9");
}

TEST(EventsLeniency, UrlOffsetObjectAndBareIntegerIndex) {
  const auto object =
      one_event(R"({"event":"click","email":"a","url_offset":{"index":3,"type":"text"}})");
  EXPECT_EQ(object.events[0].url_offset_index, 3);
  EXPECT_EQ(object.events[0].url_offset_type, "text");
  const auto bare = one_event(R"({"event":"click","email":"a","url_offset":7})");
  EXPECT_EQ(bare.events[0].url_offset_index, 7);
  EXPECT_FALSE(bare.events[0].url_offset_type);
}

TEST(EventsLeniency, UnknownMembersOfUrlOffsetAndPoolAreIgnored) {
  const auto batch = one_event(
      R"({"event":"processed","email":"a","pool":{"name":"p","extra":[1,{"x":null}],"id":4},"url_offset":{"index":1,"future":true}})");
  EXPECT_EQ(batch.events[0].pool_name, "p");
  EXPECT_EQ(batch.events[0].pool_id, 4);
  EXPECT_EQ(batch.events[0].url_offset_index, 1);
}

TEST(EventsLeniency, NullTypedFieldsReadAsAbsent) {
  const auto batch = one_event(
      R"({"event":"bounce","email":"a","status":null,"asm_group_id":null,"tls":null,"pool":null,"url_offset":null,"newsletter":null,"timestamp":null})");
  const event& e = batch.events[0];
  EXPECT_FALSE(e.status);
  EXPECT_FALSE(e.asm_group_id);
  EXPECT_FALSE(e.tls);
  EXPECT_FALSE(e.pool_name);
  EXPECT_FALSE(e.url_offset_index);
  EXPECT_FALSE(e.newsletter);
  EXPECT_FALSE(e.timestamp);
  EXPECT_EQ(e.custom_args, "{}");
}

TEST(EventsLeniency, WhitespaceEverywhereIsAccepted) {
  const std::string body =
      " \r\n[ \t{ \"event\" : \"open\" ,\n \"email\" : \"a\" , \"x\" : [ 1 , 2 ] } ,\r\n"
      "{\"event\":\"click\",\"email\":\"b\"}\r\n ]\r\n\t ";
  const auto batch = parse_ok(body);
  ASSERT_EQ(batch.events.size(), 2u);
  EXPECT_EQ(batch.events[0].raw,
            "{ \"event\" : \"open\" ,\n \"email\" : \"a\" , \"x\" : [ 1 , 2 ] }");
  EXPECT_EQ(batch.events[0].custom_args, R"({"x":[ 1 , 2 ]})");
  EXPECT_EQ(batch.events[1].raw, R"({"event":"click","email":"b"})");
}

TEST(EventsLeniency, EscapedKnownKeyIsRecognised) {
  const auto batch = one_event(R"({"\u0065vent":"open","em\u0061il":"a"})");
  EXPECT_EQ(batch.events[0].kind, event_type::open);
  EXPECT_EQ(batch.events[0].email, "a");
  EXPECT_EQ(batch.events[0].custom_args, "{}");
}

TEST(EventsLeniency, UnknownEventTypeIsKeptAsOther) {
  const auto batch = one_event(R"({"event":"brand_new_event_type","email":"a","timestamp":1})");
  EXPECT_EQ(batch.events[0].kind, event_type::other);
  EXPECT_EQ(batch.events[0].event_name, "brand_new_event_type");
  EXPECT_EQ(table_name(batch.events[0].kind), "other_events");
}

TEST(EventsLeniency, UnknownEventTypeStillNeedsEmail) {
  EXPECT_EQ(rejected_reason(R"({"event":"received","timestamp":1})"),
            "element 0: `email` is missing");
}

// ---- custom args --------------------------------------------------------------------------------

TEST(EventsCustomArgs, UndefinedKeysAreCopiedRawWithTheirKeys) {
  const auto batch = one_event(
      R"({"event":"open","userid":"1123","n":42,"f":-1.5e3,"b":false,"z":null,"o":{"a":[1,"\u003c"]},"email":"a","k\"q":"v","template":"receipt"})");
  EXPECT_EQ(
      batch.events[0].custom_args,
      R"({"userid":"1123","n":42,"f":-1.5e3,"b":false,"z":null,"o":{"a":[1,"\u003c"]},"k\"q":"v","template":"receipt"})");
}

TEST(EventsCustomArgs, NestedUniqueArgsAndCustomArgsAreMerged) {
  const auto batch = one_event(
      R"({"event":"open","email":"a","unique_args":{"u":"1","v":2},"custom_args":{"c":"3"},"top":"4"})");
  EXPECT_EQ(batch.events[0].custom_args, R"({"u":"1","v":2,"c":"3","top":"4"})");
}

TEST(EventsCustomArgs, NonObjectUniqueArgsIsAnOrdinaryCustomArg) {
  const auto batch = one_event(R"({"event":"open","email":"a","unique_args":"x"})");
  EXPECT_EQ(batch.events[0].custom_args, R"({"unique_args":"x"})");
}

TEST(EventsCustomArgs, NoneGivesEmptyObject) {
  EXPECT_EQ(one_event(R"({"event":"open","email":"a"})").events[0].custom_args, "{}");
}

TEST(EventsCustomArgs, DuplicateKeysLastOneWins) {
  const auto batch = one_event(
      R"({"email":"a@b.c","event":"open","event":"click","timestamp":1,"timestamp":"2","x":1,"y":0,"x":"two"})");
  EXPECT_EQ(batch.events[0].kind, event_type::click);
  EXPECT_EQ(batch.events[0].timestamp, 2);
  EXPECT_EQ(batch.events[0].custom_args, R"({"x":"two","y":0})");
}

TEST(EventsCustomArgs, DuplicateKeyReplacesAProblemOfTheEarlierOne) {
  const auto batch =
      one_event(R"({"email":"a","event":"open","timestamp":"yesterday","timestamp":5})");
  EXPECT_EQ(batch.events[0].timestamp, 5);
  EXPECT_EQ(
      rejected_reason(R"({"email":"a","event":"open","timestamp":5,"timestamp":"yesterday"})"),
      "element 0: `timestamp` must be an integer unix time (got a string that is not an integer)");
}

TEST(EventsCustomArgs, FiveHundredDeepValueIsAcceptedAndCopiedRaw) {
  const std::string deep = std::string(500, '[') + "1" + std::string(500, ']');
  const auto batch = one_event(R"({"event":"open","email":"a","deep":)" + deep + "}");
  EXPECT_EQ(batch.events[0].custom_args, R"({"deep":)" + deep + "}");
}

// ---- unicode and size ----------------------------------------------------------------------

TEST(EventsUnicode, NulAndEmojiInTypedStringsAreUnescaped) {
  const auto batch = one_event(
      R"({"event":"processed","email":"a","marketing_campaign_name":"Caf\u00e9 \ud83d\ude00 \u0000 nul","reason":"\u2615"})");
  EXPECT_EQ(batch.events[0].marketing_campaign_name, "Caf\xC3\xA9 \xF0\x9F\x98\x80 \0 nul"sv);
  EXPECT_EQ(batch.events[0].reason, "\xE2\x98\x95");
}

TEST(EventsUnicode, RawUtf8IsKeptAsSent) {
  const auto batch = one_event("{\"event\":\"open\",\"email\":\"j\xC3\xB8rn@example.no\"}");
  EXPECT_EQ(batch.events[0].email, "j\xC3\xB8rn@example.no");
}

TEST(EventsUnicode, LoneSurrogateInCustomArgIsAcceptedRaw) {
  const auto batch = one_event(R"({"email":"a@b.c","timestamp":1,"event":"open","x":"\ud800"})");
  EXPECT_EQ(batch.events[0].custom_args, R"({"x":"\ud800"})");
}

TEST(EventsUnicode, LoneSurrogateInTypedFieldRejectsOnlyThatElement) {
  const std::string body = R"([{"event":"open","email":"\ud800"},{"event":"open","email":"ok"}])";
  const auto batch = parse_ok(body);
  ASSERT_EQ(batch.events.size(), 1u);
  ASSERT_EQ(batch.rejected.size(), 1u);
  EXPECT_EQ(batch.rejected[0].reason,
            "element 0: `email` must be valid Unicode (got an unpaired surrogate escape)");
  EXPECT_EQ(batch.events[0].email, "ok");
}

TEST(EventsUnicode, FourMiBStringFieldIsParsed) {
  const std::string big(4 * 1024 * 1024, 'x');
  const auto batch = one_event(R"({"event":"bounce","email":"a","reason":")" + big +
                               R"(","custom":")" + big + "\"}");
  ASSERT_TRUE(batch.events[0].reason);
  EXPECT_EQ(batch.events[0].reason->size(), big.size());
  EXPECT_EQ(batch.events[0].custom_args.size(), big.size() + 13);
}

TEST(EventsUnicode, LongStringWithManyEscapesIsScannedCorrectly) {
  std::string value;
  for (int i = 0; i < 20000; ++i) value += "\\\"\\n\\u00e9";
  const auto batch = one_event(R"({"event":"open","email":"a","note":")" + value + "\"}");
  EXPECT_EQ(batch.events[0].custom_args, R"({"note":")" + value + "\"}");
}

// ---- rejected elements ---------------------------------------------------------------------

TEST(EventsRejected, NonObjectElementsAreRejectedWithTheirRawBytes) {
  const auto batch =
      parse_ok(R"([1, "two" ,null,[3, {"a":[]}],true,{"event":"open","email":"a"}])");
  ASSERT_EQ(batch.rejected.size(), 5u);
  ASSERT_EQ(batch.events.size(), 1u);
  EXPECT_EQ(batch.rejected[0].raw, "1");
  EXPECT_EQ(batch.rejected[0].reason, "element 0: must be a JSON object (got number)");
  EXPECT_EQ(batch.rejected[1].raw, "\"two\"");
  EXPECT_EQ(batch.rejected[1].reason, "element 1: must be a JSON object (got string)");
  EXPECT_EQ(batch.rejected[2].raw, "null");
  EXPECT_EQ(batch.rejected[3].raw, R"([3, {"a":[]}])");
  EXPECT_EQ(batch.rejected[3].reason, "element 3: must be a JSON object (got array)");
  EXPECT_EQ(batch.rejected[4].raw, "true");
  EXPECT_EQ(batch.rejected[4].reason, "element 4: must be a JSON object (got boolean)");
}

TEST(EventsRejected, WrongTypesNameTheFieldAndWhatCame) {
  EXPECT_EQ(
      rejected_reason(R"({"event":"open","email":"a","timestamp":"yesterday"})"),
      "element 0: `timestamp` must be an integer unix time (got a string that is not an integer)");
  EXPECT_EQ(rejected_reason(R"({"event":"open","email":"a","timestamp":[1]})"),
            "element 0: `timestamp` must be an integer unix time (got array)");
  EXPECT_EQ(rejected_reason(R"({"event":"open","email":"a","sg_event_id":12345})"),
            "element 0: `sg_event_id` must be a string (got number)");
  EXPECT_EQ(rejected_reason(R"({"event":"open","email":["a@b.c"]})"),
            "element 0: `email` must be a string (got array)");
  EXPECT_EQ(rejected_reason(R"({"event":"open","email":"a","category":{"nested":"object"}})"),
            "element 0: `category` must be a string or an array of strings (got object)");
  EXPECT_EQ(rejected_reason(R"({"event":"open","email":"a","category":["a",1]})"),
            "element 0: `category` must be a string or an array of strings (got an array with an "
            "element that is not a string)");
  EXPECT_EQ(rejected_reason(R"({"event":7,"email":"a"})"),
            "element 0: `event` must be a string (got number)");
  EXPECT_EQ(rejected_reason(R"({"event":null,"email":"a"})"),
            "element 0: `event` must be a string (got null)");
  EXPECT_EQ(rejected_reason(R"({"event":"open","email":"a","asm_group_id":1.5})"),
            "element 0: `asm_group_id` must be an integer (got a number with a fraction)");
  EXPECT_EQ(rejected_reason(R"({"event":"open","email":"a","tls":"yes"})"),
            "element 0: `tls` must be 0, 1, true or false (got a string that is not an integer)");
  EXPECT_EQ(rejected_reason(R"({"event":"open","email":"a","url_offset":"0"})"),
            "element 0: `url_offset` must be an object with `index` and `type` (got string)");
  EXPECT_EQ(rejected_reason(R"({"event":"open","email":"a","url_offset":{"index":"x"}})"),
            "element 0: `url_offset.index` must be an integer (got a string that is not an "
            "integer)");
  EXPECT_EQ(rejected_reason(R"({"event":"open","email":"a","pool":{"name":1}})"),
            "element 0: `pool.name` must be a string (got number)");
  EXPECT_EQ(rejected_reason(R"({"event":"open","email":"a","newsletter":"x"})"),
            "element 0: `newsletter` must be an object (got string)");
}

TEST(EventsRejected, NumbersThatDoNotFitAreRejectedNotBatchErrors) {
  const std::string huge = "1" + std::string(400, '0');
  EXPECT_EQ(rejected_reason(R"({"event":"open","email":"a","timestamp":)" + huge + "}"),
            "element 0: `timestamp` must be an integer unix time (got a number out of range)");
  EXPECT_EQ(rejected_reason(R"({"event":"open","email":"a","timestamp":1e400})"),
            "element 0: `timestamp` must be an integer unix time (got a number out of range)");
  EXPECT_EQ(
      rejected_reason(R"({"event":"open","email":"a","timestamp":"99999999999999999999"})"),
      "element 0: `timestamp` must be an integer unix time (got a string that is not an integer)");
  // As a custom arg the same number is just valid JSON.
  EXPECT_EQ(one_event(R"({"event":"open","email":"a","n":)" + huge + "}").events[0].custom_args,
            R"({"n":)" + huge + "}");
}

TEST(EventsRejected, MissingEventOrEmailIsRejected) {
  EXPECT_EQ(rejected_reason(R"({"email":"a","timestamp":1})"), "element 0: `event` is missing");
  EXPECT_EQ(rejected_reason(R"({"event":"delivered","timestamp":1})"),
            "element 0: `email` is missing");
  EXPECT_EQ(rejected_reason(R"({"event":"delivered","email":null})"),
            "element 0: `email` is missing");
  EXPECT_EQ(rejected_reason("{}"), "element 0: `event` is missing");
}

TEST(EventsRejected, ReasonCountsElementsFromZeroAndOthersAreKept) {
  const auto batch = parse_ok(
      R"([{"event":"open","email":"a"},{"event":"open","email":"b"},{"event":"open"},{"event":"open","email":"c"}])");
  ASSERT_EQ(batch.events.size(), 3u);
  ASSERT_EQ(batch.rejected.size(), 1u);
  EXPECT_EQ(batch.rejected[0].reason, "element 2: `email` is missing");
  EXPECT_EQ(batch.rejected[0].raw, R"({"event":"open"})");
  EXPECT_EQ(batch.events[2].email, "c");
}

TEST(EventsRejected, WrongTypedValuesAreStillValidatedAsJson) {
  // A rejected element must not hide invalid JSON inside it.
  EXPECT_FALSE(accepted(R"([{"event":"open","email":"a","timestamp":[tru]}])"));
  EXPECT_FALSE(accepted(R"([{"event":"open","email":"a","category":[1,01]}])"));
  EXPECT_FALSE(accepted(R"([[1,{"a":nul}]])"));
}

// ---- batch errors --------------------------------------------------------------------------

TEST(EventsBatchError, NotJsonIsABatchError) {
  EXPECT_FALSE(parse_error("hello").empty());
  EXPECT_FALSE(parse_error("<html></html>").empty());
  EXPECT_FALSE(parse_error("[hello]").empty());
}

TEST(EventsBatchError, EmptyOrWhitespaceBodyIsABatchError) {
  EXPECT_EQ(parse_error(""), "the body is empty; it must be a JSON array of events");
  EXPECT_EQ(parse_error(" \r\n"), "the body is empty; it must be a JSON array of events");
  EXPECT_EQ(parse_error("\xEF\xBB\xBF"), "the body is empty; it must be a JSON array of events");
}

TEST(EventsBatchError, TopLevelNonArraysAreBatchErrors) {
  EXPECT_EQ(parse_error(processed_example),
            "the body must be a JSON array of events, not an object");
  EXPECT_EQ(parse_error(R"("[1]")"), "the body must be a JSON array of events, not a string");
  EXPECT_EQ(parse_error("42"), "the body must be a JSON array of events, not a number");
  EXPECT_EQ(parse_error("null"), "the body must be a JSON array of events, not null");
  EXPECT_EQ(parse_error("true"), "the body must be a JSON array of events, not a boolean");
}

TEST(EventsBatchError, TruncatedBodiesAreBatchErrors) {
  EXPECT_FALSE(parse_error(R"([{"event":"open","email":"a"})").empty());  // missing final ]
  EXPECT_FALSE(parse_error(R"([{"event":"open","email":"a")").empty());
  EXPECT_FALSE(parse_error(R"([{"event":"open","email":"a)").empty());
  EXPECT_FALSE(parse_error(R"([{"event":"open","email":)").empty());
  EXPECT_FALSE(parse_error("[").empty());
}

TEST(EventsBatchError, EveryTruncationOfAValidBodyIsABatchError) {
  const std::string body = read_data_file("batch_40.json");
  ASSERT_TRUE(accepted(body));
  const std::size_t last = body.find_last_of(']');
  for (std::size_t cut = 0; cut < last; ++cut) {
    ASSERT_FALSE(accepted(std::string_view(body).substr(0, cut))) << "cut at " << cut;
  }
}

TEST(EventsBatchError, TrailingBytesAfterTheArrayAreBatchErrors) {
  EXPECT_EQ(parse_error(R"([{"event":"open","email":"a"}] xyz)"),
            "the body is not a complete JSON array: it does not end with `]` (truncated, or "
            "followed by other bytes)");
  EXPECT_EQ(parse_error("[][]"),
            "the body has bytes after the closing `]` of the array, at byte 2");
  EXPECT_EQ(parse_error("[1]]"),
            "the body has bytes after the closing `]` of the array, at byte 3");
  EXPECT_FALSE(parse_error("[] 1").empty());
  EXPECT_FALSE(parse_error("[]{}").empty());
}

TEST(EventsBatchError, InvalidUtf8IsABatchError) {
  EXPECT_EQ(parse_error("[{\"event\":\"open\",\"email\":\"\xff\xfe\"}]"),
            "the body is not valid UTF-8");
  EXPECT_EQ(parse_error("[{\"event\":\"open\",\"email\":\"a\",\"x\":\"\xC3\"}]"),
            "the body is not valid UTF-8");
}

TEST(EventsBatchError, HundredThousandDeepNestingIsABatchError) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(parse_error(deep),
            "the body nests arrays and objects deeper than 1024 levels (at byte 1024)");
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  objects = "[" + objects + "1" + std::string(100000, '}') + "]";
  EXPECT_FALSE(parse_error(objects).empty());
}

TEST(EventsBatchError, NestingJustWithinTheLimitIsAccepted) {
  // Root array (1) + element object (2) + 1022 nested arrays = 1024 levels.
  const std::string value = std::string(1022, '[') + std::string(1022, ']');
  EXPECT_TRUE(accepted(R"([{"event":"open","email":"a","v":)" + value + "}]"));
  const std::string deeper = std::string(1023, '[') + std::string(1023, ']');
  EXPECT_FALSE(accepted(R"([{"event":"open","email":"a","v":)" + deeper + "}]"));
}

// Invalid JSON placed late in a body must fail the whole body, never yield a partial batch.
TEST(EventsBatchError, LateSyntaxErrorsAnywhereFailTheWholeBody) {
  const std::vector<std::string> bad_values = {
      "tru",         "nul",          "falsey",
      "01",          "1.",           "-",
      "1e",          "+1",           ".5",
      "0x10",        "1 2",          "\"a\" \"b\"",
      "\"\\x\"",     "\"\\u12\"",    "\"\\u12g4\"",
      "[1,]",        "[,1]",         "[1 2]",
      "{\"a\"}",     "{\"a\":}",     "{\"a\":1,}",
      "{1:2}",       "{\"a\" 1}",    "{\"a\"::1}",
      "[1}",         "{\"a\":1]",    "'x'",
      "undefined",   "NaN",          "Infinity",
      "[\"a\",tru]", "{\"k\\q\":1}", "\"tab\tin string\"",
      "[{]}",
  };
  const std::string good = std::string(click_example) + ",\r\n";
  for (const std::string& bad : bad_values) {
    // As a custom arg (skipped by a lazy parser), as a typed field, and as an element.
    EXPECT_FALSE(accepted("[" + good + good + R"({"event":"open","email":"a","x":)" + bad + "}]"))
        << "custom arg " << bad;
    EXPECT_FALSE(accepted("[" + good + R"({"event":"open","email":"a","reason":)" + bad + "}]"))
        << "typed field " << bad;
    EXPECT_FALSE(accepted("[" + good + R"({"event":"open","email":"a","category":)" + bad + "}]"))
        << "category " << bad;
    EXPECT_FALSE(accepted("[" + good + R"({"event":"open","email":"a","timestamp":)" + bad + "}]"))
        << "timestamp " << bad;
    EXPECT_FALSE(accepted("[" + good + bad + "]")) << "element " << bad;
  }
}

TEST(EventsBatchError, StructuralErrorsBetweenElementsFailTheWholeBody) {
  const std::string e = R"({"event":"open","email":"a"})";
  EXPECT_FALSE(accepted("[" + e + e + "]"));         // missing comma
  EXPECT_FALSE(accepted("[" + e + ",," + e + "]"));  // double comma
  EXPECT_FALSE(accepted("[" + e + "," + e + ",]"));  // trailing comma
  EXPECT_FALSE(accepted("[" + e + ":" + e + "]"));   // colon
  EXPECT_FALSE(accepted("[" + e + "," + e + "}]"));  // stray brace
}

// On-Demand skips an unread string followed by `:` as if it were an object key; found by the
// random-edit test below with a `}` inserted mid-object.
TEST(EventsBatchError, StringFollowedByColonOutsideAnObjectFailsTheWholeBody) {
  const std::string e = R"({"event":"open","email":"a"})";
  EXPECT_FALSE(accepted("[" + e + R"(,"k":1},)" + e + "]"));
  EXPECT_FALSE(accepted(R"(["k":1])"));
  EXPECT_FALSE(accepted(R"([{"event":"open","email":"a","x":["k":1]}])"));
  EXPECT_FALSE(accepted(R"([{"event":"open","email":"a","category":["k":1]}])"));
  EXPECT_FALSE(accepted(R"([{"event":"open","email":"a","x":"k":1}])"));
  EXPECT_FALSE(accepted(R"([{"event":"open","email":"a","category":"k":1}])"));
  EXPECT_FALSE(accepted(R"([{"event":"open","email":"a","reason":"k":1}])"));
}

// The reference: simdjson's DOM parser validates everything. Random single-byte edits of a
// realistic body must be accepted by parse_batch exactly when the DOM parser accepts them.
TEST(EventsBatchError, RandomEditsAreAcceptedExactlyWhenTheDomParserAcceptsThem) {
  const std::string base =
      std::string(vector_v2.substr(0, vector_v2.size() - 3)) + ",\r\n" +
      std::string(click_example) + ",\r\n" +
      R"({"event":"open","email":"a","deep":{"x":[1,-2.5e3,true,false,null,"\"\u003c"]},"category":["a","b"]}])";
  ASSERT_TRUE(accepted(base));
  // No 'e'/'E': an edit like 161E9651146 is valid JSON that the DOM parser refuses as out of
  // range, while we (rightly) only reject that element.
  const std::string alphabet = "{}[]\":,\\ 0123456789.-+tfnrul\xC3";
  std::mt19937 rng(20240229);
  simdjson::dom::parser dom;
  int mismatches = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string body = base;
    const std::size_t at = rng() % body.size();
    const char c = alphabet[rng() % alphabet.size()];
    switch (rng() % 3) {
      case 0:
        body.erase(at, 1);
        break;
      case 1:
        body.insert(body.begin() + static_cast<std::ptrdiff_t>(at), c);
        break;
      default:
        body[at] = c;
        break;
    }
    simdjson::dom::element doc;
    const bool dom_array = dom.parse(body).get(doc) == simdjson::SUCCESS && doc.is_array();
    if (accepted(body) != dom_array) {
      ++mismatches;
      ADD_FAILURE() << "dom " << (dom_array ? "accepts" : "refuses") << ": " << body;
      if (mismatches > 5) break;
    }
  }
}

// ---- bodies from shared/bench/gen_events.py --malformed and a realistic batch ---------------

struct sample {
  std::string file;
  bool ok;
  std::size_t events;
  std::size_t rejected;
};

TEST(EventsSamples, GeneratedMalformedBodiesGetTheExpectedOutcome) {
  const std::vector<sample> samples = {
      {"bad_truncated_json.json", false, 0, 0},       {"bad_truncated_last_byte.json", false, 0, 0},
      {"bad_not_an_array_object.json", false, 0, 0},  {"bad_not_an_array_string.json", false, 0, 0},
      {"bad_not_an_array_number.json", false, 0, 0},  {"bad_null_body.json", false, 0, 0},
      {"bad_empty_body.json", false, 0, 0},           {"bad_empty_array.json", true, 0, 0},
      {"bad_array_of_non_objects.json", true, 0, 5},  {"bad_wrong_types.json", true, 0, 5},
      {"bad_missing_required.json", true, 1, 1},      {"bad_unknown_event_type.json", true, 1, 0},
      {"bad_invalid_utf8.json", false, 0, 0},         {"bad_utf8_bom.json", true, 1, 0},
      {"bad_unicode_and_nul.json", true, 1, 0},       {"bad_lone_surrogate.json", true, 1, 0},
      {"bad_nested_custom_arg_500.json", true, 1, 0}, {"bad_trailing_garbage.json", false, 0, 0},
      {"bad_two_arrays.json", false, 0, 0},           {"bad_duplicate_keys.json", true, 1, 0},
      {"bad_huge_number.json", true, 0, 1},           {"bad_float_timestamp.json", true, 1, 0},
  };
  for (const sample& s : samples) {
    const std::string body = read_data_file(s.file);
    auto result = parse_batch(body);
    ASSERT_EQ(std::holds_alternative<parsed_batch>(result), s.ok) << s.file;
    if (!s.ok) {
      EXPECT_FALSE(std::get<batch_error>(result).message.empty()) << s.file;
      continue;
    }
    const auto& batch = std::get<parsed_batch>(result);
    EXPECT_EQ(batch.events.size(), s.events) << s.file;
    EXPECT_EQ(batch.rejected.size(), s.rejected) << s.file;
  }
}

TEST(EventsSamples, BomIsSkippedAndRawStartsAfterIt) {
  const std::string body = read_data_file("bad_utf8_bom.json");
  ASSERT_TRUE(body.starts_with("\xEF\xBB\xBF"));
  const auto batch = parse_ok(body);
  ASSERT_EQ(batch.events.size(), 1u);
  EXPECT_TRUE(batch.events[0].raw.starts_with("{\"email\""));
  EXPECT_EQ(batch.events[0].kind, event_type::open);
  EXPECT_EQ(batch.events[0].raw, std::string_view(body).substr(4, body.size() - 5));
}

TEST(EventsSamples, EmptyArrayGivesNoEventsAndNoError) {
  const auto batch = parse_ok("[]");
  EXPECT_TRUE(batch.events.empty());
  EXPECT_TRUE(batch.rejected.empty());
  EXPECT_TRUE(parse_ok(" [ \r\n ] \r\n").events.empty());
}

TEST(EventsSamples, GeneratedBatchMatchesItsExpectedCountsAndRawBytes) {
  const std::string body = read_data_file("batch_40.json");
  std::map<std::string, std::size_t> expected;
  std::istringstream counts(read_data_file("batch_40_expected_counts.tsv"));
  std::string type;
  std::size_t n = 0;
  while (counts >> type >> n) expected[type] = n;

  const auto batch = parse_ok(body);
  EXPECT_TRUE(batch.rejected.empty());
  std::map<std::string, std::size_t> seen;
  for (const event& e : batch.events) {
    ++seen[std::string(e.event_name)];
    // raw is a slice of the body, and re-parsing it alone gives the same event.
    ASSERT_NE(body.find(e.raw), std::string::npos);
    ASSERT_EQ(e.raw.front(), '{');
    ASSERT_EQ(e.raw.back(), '}');
    const auto alone = parse_ok(as_array(e.raw));
    ASSERT_EQ(alone.events.size(), 1u);
    EXPECT_EQ(fingerprint_key(alone.events[0]), fingerprint_key(e));
    EXPECT_EQ(alone.events[0].custom_args, e.custom_args);
    EXPECT_EQ(alone.events[0].category, e.category);
  }
  for (const auto& [name, count] : expected) EXPECT_EQ(seen[name], count) << name;
}

TEST(EventsSamples, MovingTheBatchKeepsEveryViewValid) {
  std::vector<parsed_batch> kept;
  for (int i = 0; i < 20; ++i) {
    std::string body = as_array(R"({"event":"open","email":"x\u0041)" + std::to_string(i) + "\"}");
    kept.push_back(parse_ok(body));
    body.assign(body.size(), '#');  // the caller's buffer is gone; our copy must not be
  }
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(kept[static_cast<std::size_t>(i)].events.size(), 1u);
    EXPECT_EQ(kept[static_cast<std::size_t>(i)].events[0].email, "xA" + std::to_string(i));
    EXPECT_TRUE(kept[static_cast<std::size_t>(i)].events[0].raw.starts_with("{\"event\""));
  }
}

TEST(EventsSamples, ConcurrentParsesDoNotInterfere) {
  const std::string body = read_data_file("batch_40.json");
  const auto reference = parse_ok(body);
  std::vector<std::thread> threads;
  std::array<bool, 4> same{};
  for (std::size_t t = 0; t < same.size(); ++t) {
    threads.emplace_back([&, t] {
      bool ok = true;
      for (int i = 0; i < 50; ++i) {
        auto result = parse_batch(body);
        const auto* batch = std::get_if<parsed_batch>(&result);
        ok = ok && batch != nullptr && batch->events.size() == reference.events.size();
        for (std::size_t k = 0; ok && k < reference.events.size(); ++k) {
          ok = fingerprint_key(batch->events[k]) == fingerprint_key(reference.events[k]);
        }
      }
      same[t] = ok;
    });
  }
  for (auto& t : threads) t.join();
  for (bool ok : same) EXPECT_TRUE(ok);
}

// ---- names -----------------------------------------------------------------------------------

TEST(EventsNames, WireAndTableNamesMatchTheSpec) {
  const std::vector<std::pair<std::string_view, std::string_view>> expected = {
      {"processed", "processed"},
      {"dropped", "dropped"},
      {"delivered", "delivered"},
      {"deferred", "deferred"},
      {"bounce", "bounce"},
      {"open", "_open"},
      {"click", "click"},
      {"spamreport", "spam_report"},
      {"unsubscribe", "unsubscribe"},
      {"group_unsubscribe", "group_unsubscribe"},
      {"group_resubscribe", "group_resubscribe"},
      {"account_status_change", "account_status_change"},
      {"", "other_events"},
  };
  ASSERT_EQ(expected.size(), all_event_types.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const event_type t = all_event_types[i];
    EXPECT_EQ(wire_name(t), expected[i].first);
    EXPECT_EQ(table_name(t), expected[i].second);
    if (t != event_type::other) {
      EXPECT_EQ(event_type_from_wire(wire_name(t)), t);
    }
  }
}

TEST(EventsNames, UnknownOrNearlyRightWireNamesAreOther) {
  EXPECT_EQ(event_type_from_wire(""), event_type::other);
  EXPECT_EQ(event_type_from_wire("blocked"), event_type::other);
  EXPECT_EQ(event_type_from_wire("Open"), event_type::other);
  EXPECT_EQ(event_type_from_wire("spam_report"), event_type::other);
  EXPECT_EQ(event_type_from_wire("opens"), event_type::other);
}

// ---- dedup keys ------------------------------------------------------------------------------

event full_event() {
  event e;
  e.kind = event_type::click;
  e.event_name = "click";
  e.sg_event_id = "id-1";
  e.sg_message_id = "msg.1";
  e.email = "a@example.com";
  e.timestamp = 1700000000;
  e.url = "https://example.com/";
  e.url_offset_index = 2;
  e.asm_group_id = 7;
  e.reason = "r";
  e.status = "5.0.0";
  e.response = "250 OK";
  e.attempt = 3;
  e.type = "bounce";
  e.ip = "1.2.3.4";
  e.useragent = "ua";
  return e;
}

TEST(EventsDedupKeys, IdenticalContentGivesIdenticalKeys) {
  EXPECT_EQ(fingerprint_key(full_event()), fingerprint_key(full_event()));
  EXPECT_EQ(event_id_key(full_event()), event_id_key(full_event()));
  const auto a = parse_ok(as_array(click_example));
  const auto b = parse_ok(as_array(click_example));
  EXPECT_EQ(fingerprint_key(a.events[0]), fingerprint_key(b.events[0]));
  EXPECT_EQ(event_id_key(a.events[0]), event_id_key(b.events[0]));
}

TEST(EventsDedupKeys, RetryWithNewSgEventIdKeepsTheFingerprint) {
  std::string retry(deferred_example);
  retry.replace(retry.find("t7LEShmowp86DTdUW8M-GQ=="), 24, "SOMETHING-ELSE-ENTIRELY!");
  const auto a = parse_ok(as_array(deferred_example));
  const auto b = parse_ok(as_array(retry));
  EXPECT_NE(event_id_key(a.events[0]), event_id_key(b.events[0]));
  EXPECT_EQ(fingerprint_key(a.events[0]), fingerprint_key(b.events[0]));
}

TEST(EventsDedupKeys, AttemptAsStringOrIntegerGivesTheSameFingerprint) {
  const auto a = parse_ok(as_array(R"({"event":"deferred","email":"a","attempt":"5"})"));
  const auto b = parse_ok(as_array(R"({"event":"deferred","email":"a","attempt":5})"));
  EXPECT_EQ(fingerprint_key(a.events[0]), fingerprint_key(b.events[0]));
  const auto c = parse_ok(as_array(R"({"event":"deferred","email":"a","timestamp":"12"})"));
  const auto d = parse_ok(as_array(R"({"event":"deferred","email":"a","timestamp":12})"));
  EXPECT_EQ(fingerprint_key(c.events[0]), fingerprint_key(d.events[0]));
}

TEST(EventsDedupKeys, EveryListedFieldChangesTheFingerprint) {
  const dedup_key base = fingerprint_key(full_event());
  const std::vector<std::pair<std::string, std::function<void(event&)>>> edits = {
      {"kind",
       [](event& e) {
         e.kind = event_type::open;
         e.event_name = "open";
       }},
      {"sg_message_id", [](event& e) { e.sg_message_id = "msg.2"; }},
      {"email", [](event& e) { e.email = "b@example.com"; }},
      {"timestamp", [](event& e) { e.timestamp = 1700000001; }},
      {"url", [](event& e) { e.url = "https://example.com/x"; }},
      {"url_offset_index", [](event& e) { e.url_offset_index = 3; }},
      {"asm_group_id", [](event& e) { e.asm_group_id = 8; }},
      {"reason", [](event& e) { e.reason = "s"; }},
      {"status", [](event& e) { e.status = "5.0.1"; }},
      {"response", [](event& e) { e.response = "250 OK!"; }},
      {"attempt", [](event& e) { e.attempt = 4; }},
      {"type", [](event& e) { e.type = "blocked"; }},
      {"ip", [](event& e) { e.ip = "1.2.3.5"; }},
      {"useragent", [](event& e) { e.useragent = "ub"; }},
      {"absent url", [](event& e) { e.url.reset(); }},
      {"empty reason", [](event& e) { e.reason = ""; }},
      {"absent attempt", [](event& e) { e.attempt.reset(); }},
      {"attempt 0", [](event& e) { e.attempt = 0; }},
      {"other name",
       [](event& e) {
         e.kind = event_type::other;
         e.event_name = "clack";
       }},
  };
  std::vector<dedup_key> keys = {base};
  for (const auto& [what, edit] : edits) {
    event e = full_event();
    edit(e);
    const dedup_key k = fingerprint_key(e);
    EXPECT_NE(k, base) << what;
    keys.push_back(k);
  }
  std::sort(keys.begin(), keys.end(), [](const dedup_key& a, const dedup_key& b) {
    return std::tie(a.high, a.low) < std::tie(b.high, b.low);
  });
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end()) << "two edits collided";
}

TEST(EventsDedupKeys, FieldBoundariesAreUnambiguous) {
  event a;
  a.kind = event_type::open;
  a.email = "ab";
  a.reason = "c";
  event b = a;
  b.email = "a";
  b.reason = "bc";
  EXPECT_NE(fingerprint_key(a), fingerprint_key(b));
  event c = a;
  c.email.reset();
  c.reason.reset();
  c.status = "ab";
  EXPECT_NE(fingerprint_key(a), fingerprint_key(c));
}

TEST(EventsDedupKeys, FingerprintIgnoresIdRawCustomArgsAndUnlistedFields) {
  const dedup_key base = fingerprint_key(full_event());
  event e = full_event();
  e.sg_event_id = "another";
  e.raw = "{}";
  e.custom_args = R"({"x":1})";
  e.category = R"(["c"])";
  e.smtp_id = "<x>";
  e.tls = 1;
  EXPECT_EQ(fingerprint_key(e), base);
}

TEST(EventsDedupKeys, EventRebuiltFromTypedColumnsHasTheParsedFingerprint) {
  // What the store does after a restart: only typed fields, with views into its own strings.
  const auto batch = parse_ok(as_array(click_example));
  const event& parsed = batch.events[0];
  const std::string email(*parsed.email), url(*parsed.url), msg(*parsed.sg_message_id);
  event rebuilt;
  rebuilt.kind = event_type::click;
  rebuilt.event_name = wire_name(event_type::click);
  rebuilt.sg_event_id = parsed.sg_event_id;
  rebuilt.sg_message_id = msg;
  rebuilt.email = email;
  rebuilt.timestamp = parsed.timestamp;
  rebuilt.url = url;
  rebuilt.url_offset_index = parsed.url_offset_index;
  rebuilt.asm_group_id = parsed.asm_group_id;
  rebuilt.ip = parsed.ip;
  rebuilt.useragent = parsed.useragent;
  EXPECT_EQ(fingerprint_key(rebuilt), fingerprint_key(parsed));
  EXPECT_EQ(event_id_key(rebuilt), event_id_key(parsed));
}

TEST(EventsDedupKeys, OtherEventsFingerprintUsesTheirEventName) {
  event a;
  a.kind = event_type::other;
  a.event_name = "received";
  event b = a;
  b.event_name = "expired";
  EXPECT_NE(fingerprint_key(a), fingerprint_key(b));
}

TEST(EventsDedupKeys, EventIdKeyIsAbsentWithoutSgEventIdAndDependsOnlyOnIt) {
  event e = full_event();
  e.sg_event_id.reset();
  EXPECT_FALSE(event_id_key(e));
  const auto unsubscribe = parse_ok(as_array(R"({"event":"unsubscribe","email":"a"})"));
  EXPECT_FALSE(event_id_key(unsubscribe.events[0]));

  event a = full_event();
  event b;
  b.sg_event_id = a.sg_event_id;
  EXPECT_EQ(event_id_key(a), event_id_key(b));
  b.sg_event_id = "id-2";
  EXPECT_NE(event_id_key(a), event_id_key(b));
  event empty;
  empty.sg_event_id = "";
  EXPECT_TRUE(event_id_key(empty));
}

TEST(EventsDedupKeys, LongFieldsUseTheStreamingPathConsistently) {
  // Fields larger than the hasher's buffer take XXH3's streaming path; the key must still be
  // a pure function of the content.
  const std::string big(5000, 'r');
  event a = full_event();
  a.reason = big;
  event b = full_event();
  const std::string copy = big;
  b.reason = copy;
  EXPECT_EQ(fingerprint_key(a), fingerprint_key(b));
  b.reason = std::string_view(copy).substr(1);
  EXPECT_NE(fingerprint_key(a), fingerprint_key(b));
  event id;
  id.sg_event_id = big;
  EXPECT_EQ(event_id_key(id), event_id_key(id));
}

}  // namespace
}  // namespace sgs::events
