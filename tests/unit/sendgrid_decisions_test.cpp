// Unit tests of the SendGrid client's pure decisions: retry table, rate-limit waits,
// backoff, error sentences, next-page URLs.
#include <gtest/gtest.h>

#include "sendgrid/errors.hpp"
#include "sendgrid/paging.hpp"
#include "sendgrid/retry.hpp"

using namespace std::chrono_literals;
using sgs::sendgrid::failure_kind;
using sgs::sendgrid::transport_status;

TEST(RetryClassification, RetriesRateLimitsServerErrorsAndTimeoutsOnly) {
  using sgs::sendgrid::classify;
  EXPECT_EQ(classify(transport_status::ok, 200), failure_kind::none);
  EXPECT_EQ(classify(transport_status::ok, 202), failure_kind::none);
  EXPECT_EQ(classify(transport_status::ok, 429), failure_kind::rate_limited);
  EXPECT_EQ(classify(transport_status::ok, 500), failure_kind::transient);
  EXPECT_EQ(classify(transport_status::ok, 502), failure_kind::transient);
  EXPECT_EQ(classify(transport_status::ok, 503), failure_kind::transient);
  EXPECT_EQ(classify(transport_status::ok, 408), failure_kind::transient);
  EXPECT_EQ(classify(transport_status::timeout, 0), failure_kind::transient);
  EXPECT_EQ(classify(transport_status::network, 0), failure_kind::transient);
  EXPECT_EQ(classify(transport_status::ok, 401), failure_kind::auth);
  EXPECT_EQ(classify(transport_status::ok, 403), failure_kind::auth);
  EXPECT_EQ(classify(transport_status::ok, 400), failure_kind::permanent);
  EXPECT_EQ(classify(transport_status::ok, 404), failure_kind::permanent);
  EXPECT_EQ(classify(transport_status::ok, 406), failure_kind::permanent);
  EXPECT_EQ(classify(transport_status::fatal, 0), failure_kind::permanent);
  EXPECT_EQ(classify(transport_status::too_large, 200), failure_kind::permanent);
  EXPECT_EQ(classify(transport_status::aborted, 0), failure_kind::aborted);
}

TEST(RateLimitWait, LargeValuesAreEpochSecondsUntilTheReset) {
  const auto now = std::chrono::system_clock::time_point(1392815260s);
  EXPECT_EQ(sgs::sendgrid::rate_limit_wait("1392815263", now, 120s), 3000ms);
  // Sub-second precision of "now" counts.
  EXPECT_EQ(sgs::sendgrid::rate_limit_wait("1392815263", now + 500ms, 120s), 2500ms);
}

TEST(RateLimitWait, SmallValuesAreSecondsToWait) {
  const auto now = std::chrono::system_clock::time_point(1700000000s);
  EXPECT_EQ(sgs::sendgrid::rate_limit_wait("7", now, 120s), 7000ms);
  EXPECT_EQ(sgs::sendgrid::rate_limit_wait(" 60 ", now, 120s), 60000ms);
}

TEST(RateLimitWait, ClampedBetweenOneSecondAndTheCap) {
  const auto now = std::chrono::system_clock::time_point(1700000000s);
  EXPECT_EQ(sgs::sendgrid::rate_limit_wait("0", now, 120s), 1000ms);
  EXPECT_EQ(sgs::sendgrid::rate_limit_wait("1699999990", now, 120s), 1000ms);  // already past
  EXPECT_EQ(sgs::sendgrid::rate_limit_wait("1700009999", now, 120s), 120000ms);
  EXPECT_EQ(sgs::sendgrid::rate_limit_wait("100000", now, 120s), 120000ms);
}

TEST(RateLimitWait, GarbageOrMissingFallsBackToBackoff) {
  const auto now = std::chrono::system_clock::time_point(1700000000s);
  EXPECT_FALSE(sgs::sendgrid::rate_limit_wait("", now, 120s));
  EXPECT_FALSE(sgs::sendgrid::rate_limit_wait("soon", now, 120s));
  EXPECT_FALSE(sgs::sendgrid::rate_limit_wait("-5", now, 120s));
  EXPECT_FALSE(sgs::sendgrid::rate_limit_wait("12abc", now, 120s));
  EXPECT_EQ(sgs::sendgrid::rate_limit_wait("5.5", now, 120s), 5000ms);
}

TEST(Backoff, DoublesPerRetryWithJitterInTheUpperHalfAndCaps) {
  using sgs::sendgrid::backoff_delay;
  EXPECT_EQ(backoff_delay(1, 1000ms, 60s, 0.0), 500ms);
  EXPECT_EQ(backoff_delay(1, 1000ms, 60s, 0.999999), 999ms);
  EXPECT_EQ(backoff_delay(2, 1000ms, 60s, 0.0), 1000ms);
  EXPECT_EQ(backoff_delay(3, 1000ms, 60s, 0.5), 3000ms);
  EXPECT_EQ(backoff_delay(10, 1000ms, 60s, 0.0), 30000ms);
  EXPECT_EQ(backoff_delay(10, 1000ms, 60s, 1.0), 60000ms);
  EXPECT_EQ(backoff_delay(1000, 1000ms, 60s, 1.0), 60000ms);  // no overflow
}

TEST(ErrorBodies, SendGridErrorsBecomeOneSentence) {
  using sgs::sendgrid::describe_error_body;
  EXPECT_EQ(describe_error_body(R"({"errors":[{"field":null,"message":"access forbidden"}]})"),
            "access forbidden");
  EXPECT_EQ(
      describe_error_body(
          R"({"errors":[{"field":"page_size","message":"must be at most 1000"},{"field":null,"message":"bad"}]})"),
      "must be at most 1000 (field page_size); bad");
  EXPECT_EQ(describe_error_body(R"({"error":"Segment does not exist."})"),
            "Segment does not exist.");
  EXPECT_EQ(describe_error_body("<html>\nBad Gateway</html>"), "<html>");
  EXPECT_EQ(describe_error_body(""), "");
  EXPECT_EQ(describe_error_body(std::string(500, 'x')).size(), 203u);
}

TEST(ErrorBodies, HttpFailureNamesMethodPathAndStatusWithoutQuery) {
  EXPECT_EQ(sgs::sendgrid::http_failure_message(
                "GET", "https://api.sendgrid.com/v3/marketing/lists?page_token=abc", 500,
                R"({"errors":[{"message":"internal"}]})"),
            "HTTP 500 from GET /v3/marketing/lists: internal");
}

TEST(AuthMessages, Rejected401SaysWhatToDo) {
  const auto m = sgs::sendgrid::auth_failure_message(
      "x", 401,
      R"({"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked","field":null,"help":null}]})",
      "lists", "'marketing.read'", "");
  EXPECT_EQ(m,
            "the API key for source 'x' was rejected (401): create a key under Settings > API Keys "
            "and set "
            "api_key_file (SendGrid said: The provided authorization grant is invalid, expired, or "
            "revoked)");
}

TEST(AuthMessages, Forbidden403NamesThePermission) {
  const auto m = sgs::sendgrid::auth_failure_message(
      "mkt", 403, R"({"errors":[{"field":null,"message":"access forbidden"}]})",
      "lists (/v3/marketing/lists)", "'marketing.read'", "sub1");
  EXPECT_NE(m.find("source 'mkt' is not allowed to read lists (/v3/marketing/lists) (403)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("give the key the 'marketing.read' permission"), std::string::npos) << m;
  EXPECT_NE(m.find("subuser 'sub1'"), std::string::npos) << m;
  EXPECT_NE(m.find("(SendGrid said: access forbidden)"), std::string::npos) << m;
}

TEST(NextPageUrl, SameOriginLinksAreUsedAsGiven) {
  EXPECT_EQ(sgs::sendgrid::next_page_url(
                "https://api.sendgrid.com",
                "https://api.sendgrid.com/v3/marketing/lists?page_size=100&page_token=abc"),
            "https://api.sendgrid.com/v3/marketing/lists?page_size=100&page_token=abc");
}

TEST(NextPageUrl, OtherOriginsKeepPathAndQueryButGoToApiBase) {
  // The key is only ever sent to api_base: an EU base with a global-host link, or a hostile
  // look-alike host, gets the path on api_base.
  EXPECT_EQ(
      sgs::sendgrid::next_page_url("https://api.eu.sendgrid.com",
                                   "https://api.sendgrid.com/v3/marketing/lists?page_token=t"),
      "https://api.eu.sendgrid.com/v3/marketing/lists?page_token=t");
  EXPECT_EQ(sgs::sendgrid::next_page_url("https://api.sendgrid.com",
                                         "https://api.sendgrid.com.evil.example/v3/x?a=1"),
            "https://api.sendgrid.com/v3/x?a=1");
  EXPECT_EQ(sgs::sendgrid::next_page_url("http://127.0.0.1:1", "/v3/x?a=1"),
            "http://127.0.0.1:1/v3/x?a=1");
}

TEST(NextPageUrl, EmptyOrUnusableLinksEndPaging) {
  EXPECT_FALSE(sgs::sendgrid::next_page_url("https://api.sendgrid.com", ""));
  EXPECT_FALSE(sgs::sendgrid::next_page_url("https://api.sendgrid.com", "page_token=abc"));
  EXPECT_FALSE(
      sgs::sendgrid::next_page_url("https://api.sendgrid.com", "https://host-without-path"));
}

TEST(PathSegment, UnreservedCharactersAreKeptAndEveryOtherByteIsEncoded) {
  using sgs::sendgrid::path_segment;
  EXPECT_EQ(path_segment("77d4a5da-7015-11ed-a1eb-0242ac120002"),
            "77d4a5da-7015-11ed-a1eb-0242ac120002");
  EXPECT_EQ(path_segment("AZaz09-._~"), "AZaz09-._~");
  // The ids that broke `webhook configure` and the export poll (issue 13).
  EXPECT_EQ(path_segment("wh 1/x"), "wh%201%2Fx");
  EXPECT_EQ(path_segment("a?b#c%d&e=f+g"), "a%3Fb%23c%25d%26e%3Df%2Bg");
  EXPECT_EQ(path_segment("a.b"), "a.b");
  EXPECT_EQ(path_segment(".."), "%2E%2E");  // not a dot-segment that libcurl would remove
  EXPECT_EQ(path_segment("."), "%2E");
  EXPECT_EQ(path_segment("\xC3\xA9\x01\x7F\xFF"), "%C3%A9%01%7F%FF");
  EXPECT_EQ(path_segment(std::string_view("a\0b", 3)), "a%00b");
  EXPECT_EQ(path_segment(""), "");
}
