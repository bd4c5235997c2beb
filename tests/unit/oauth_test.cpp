// OAuth for the webhook without sockets: form parsing, client credentials, the token table
// with an injected clock, the token endpoint's answers and the bearer check.
#include "webhook/oauth.hpp"

#include <gtest/gtest.h>

#include <set>

#include "webhook/auth.hpp"

using namespace std::chrono_literals;
using sgs::webhook::oauth_client;
using sgs::webhook::oauth_issuer;
using sgs::webhook::parse_basic_credentials;
using sgs::webhook::parse_form;
using sgs::webhook::token_table;

namespace {

// A clock the test moves by hand.
struct manual_clock {
  token_table::clock::time_point now{std::chrono::hours(1000)};
  oauth_issuer::now_function function() {
    return [this] { return now; };
  }
};

// The value of a top-level JSON string or number field in a flat object (test bodies only).
std::string json_field(const std::string& body, const std::string& name) {
  const auto key = body.find("\"" + name + "\":");
  if (key == std::string::npos) return {};
  auto start = key + name.size() + 3;
  if (body[start] == '"') {
    return body.substr(start + 1, body.find('"', start + 1) - start - 1);
  }
  return body.substr(start, body.find_first_of(",}", start) - start);
}

std::string header(const sgs::webhook::reply& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

TEST(OAuthForm, DecodesPlusPercentAndSkipsEmptyPairs) {
  const auto form =
      parse_form("grant_type=client_credentials&&client_id=a%20b&client_secret=x+y%3D&scope");
  ASSERT_TRUE(form.has_value());
  EXPECT_EQ(form->at("grant_type"), "client_credentials");
  EXPECT_EQ(form->at("client_id"), "a b");
  EXPECT_EQ(form->at("client_secret"), "x y=");
  EXPECT_EQ(form->at("scope"), "");
  EXPECT_EQ(form->size(), 4u);
  EXPECT_TRUE(parse_form("")->empty());
}

TEST(OAuthForm, MalformedEscapesAndRepeatedParametersAreRefused) {
  EXPECT_FALSE(parse_form("a=%G1"));
  EXPECT_FALSE(parse_form("a=%4"));
  EXPECT_FALSE(parse_form("a=%"));
  EXPECT_FALSE(parse_form("grant_type=a&grant_type=b"));
}

TEST(OAuthBasic, ClientCredentialsAreDecodedFromBasicAndFormEscapes) {
  // RFC 6749 2.3.1: id and secret are form-encoded before base64: "sec%3Aret" is "sec:ret".
  const auto creds = parse_basic_credentials(sgs::webhook::basic_auth_header("my+id:sec%3Aret"));
  ASSERT_TRUE(creds.has_value());
  EXPECT_EQ(creds->first, "my id");
  EXPECT_EQ(creds->second, "sec:ret");
  EXPECT_TRUE(parse_basic_credentials("basic " + sgs::webhook::basic_auth_header("a:b").substr(6)));
  EXPECT_FALSE(parse_basic_credentials("Bearer abc"));
  EXPECT_FALSE(parse_basic_credentials("Basic !!!"));
  EXPECT_FALSE(parse_basic_credentials(sgs::webhook::basic_auth_header("no-colon")));
}

TEST(OAuthTokens, TokenIsValidUntilItsTtlThenExpiredAndOthersAreUnknown) {
  token_table tokens;
  const auto t0 = token_table::clock::time_point(std::chrono::hours(5));
  const std::string token = tokens.issue(t0, 60s);
  EXPECT_GE(token.size(), 43u);  // 32 random bytes in base64url
  EXPECT_EQ(tokens.check(token, t0), token_table::verdict::valid);
  EXPECT_EQ(tokens.check(token, t0 + 59s), token_table::verdict::valid);
  EXPECT_EQ(tokens.check(token, t0 + 60s), token_table::verdict::expired);
  EXPECT_EQ(tokens.check(token + "x", t0), token_table::verdict::unknown);
  EXPECT_EQ(tokens.check("", t0), token_table::verdict::unknown);
}

TEST(OAuthTokens, EveryTokenIsDifferent) {
  token_table tokens;
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) seen.insert(tokens.issue({}, 60s));
  EXPECT_EQ(seen.size(), 200u);
}

TEST(OAuthTokens, TableIsBoundedDroppingExpiredThenSoonestToExpire) {
  token_table tokens(3);
  const auto t0 = token_table::clock::time_point(std::chrono::hours(5));
  const std::string expired = tokens.issue(t0, 1s);
  const std::string a = tokens.issue(t0, 100s);
  const std::string b = tokens.issue(t0, 200s);
  const std::string c = tokens.issue(t0 + 10s, 300s);  // `expired` goes
  EXPECT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens.check(expired, t0), token_table::verdict::unknown);
  const std::string d = tokens.issue(t0 + 10s, 300s);  // nothing expired: `a` (soonest) goes
  EXPECT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens.check(a, t0 + 10s), token_table::verdict::unknown);
  for (const auto& kept : {b, c, d})
    EXPECT_EQ(tokens.check(kept, t0 + 10s), token_table::verdict::valid);
}

class OAuthIssuerTest : public ::testing::Test {
 protected:
  manual_clock clock;
  oauth_issuer issuer{oauth_client{"client-1", "s3cret!", 3600s}, clock.function()};
};

TEST_F(OAuthIssuerTest, ClientCredentialsInTheBodyGetABearerTokenAsRfc6749Json) {
  const auto r = issuer.token_request(
      "", "grant_type=client_credentials&client_id=client-1&client_secret=s3cret%21");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json_field(r.body, "token_type"), "Bearer");
  EXPECT_EQ(json_field(r.body, "expires_in"), "3600");
  EXPECT_EQ(header(r, "Cache-Control"), "no-store");
  const std::string token = json_field(r.body, "access_token");
  ASSERT_FALSE(token.empty()) << r.body;
  EXPECT_EQ(issuer.check_bearer("Bearer " + token), std::nullopt);
  EXPECT_EQ(issuer.check_bearer("bearer " + token), std::nullopt);  // scheme is case-insensitive
}

TEST_F(OAuthIssuerTest, ClientCredentialsInBasicAuthGetAToken) {
  const auto r = issuer.token_request(sgs::webhook::basic_auth_header("client-1:s3cret%21"),
                                      "grant_type=client_credentials");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(issuer.check_bearer("Bearer " + json_field(r.body, "access_token")), std::nullopt);
}

TEST_F(OAuthIssuerTest, WrongClientIs401InvalidClientAndNoTokenIsIssued) {
  for (const auto& body :
       {std::string("grant_type=client_credentials&client_id=client-1&client_secret=wrong"),
        std::string("grant_type=client_credentials&client_id=other&client_secret=s3cret!"),
        std::string("grant_type=client_credentials&client_id=client-1"),
        std::string("grant_type=client_credentials")}) {
    const auto r = issuer.token_request("", body);
    EXPECT_EQ(r.status, 401) << body;
    EXPECT_EQ(json_field(r.body, "error"), "invalid_client") << r.body;
    EXPECT_NE(header(r, "WWW-Authenticate").find("Basic"), std::string::npos);
    EXPECT_EQ(r.body.find("s3cret"), std::string::npos) << r.body;
  }
  const auto basic = issuer.token_request(sgs::webhook::basic_auth_header("client-1:nope"),
                                          "grant_type=client_credentials");
  EXPECT_EQ(basic.status, 401);
  EXPECT_EQ(issuer.tokens().size(), 0u);
}

TEST_F(OAuthIssuerTest, OtherGrantIs400UnsupportedGrantType) {
  const auto r =
      issuer.token_request("", "grant_type=password&client_id=client-1&client_secret=s3cret!");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json_field(r.body, "error"), "unsupported_grant_type");
  const auto missing = issuer.token_request("", "client_id=client-1&client_secret=s3cret!");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(json_field(missing.body, "error"), "invalid_request");
  EXPECT_EQ(issuer.tokens().size(), 0u);
}

TEST_F(OAuthIssuerTest, MalformedFormOrTwoAuthenticationMethodsAre400InvalidRequest) {
  EXPECT_EQ(json_field(issuer.token_request("", "grant_type=%ZZ").body, "error"),
            "invalid_request");
  const auto both = issuer.token_request(sgs::webhook::basic_auth_header("client-1:s3cret%21"),
                                         "grant_type=client_credentials&client_secret=s3cret!");
  EXPECT_EQ(both.status, 400);
  EXPECT_EQ(json_field(both.body, "error"), "invalid_request");
}

TEST_F(OAuthIssuerTest, MissingTokenIs401WithBearerChallenge) {
  for (const auto& authorization :
       {std::string(), std::string("Basic abc"), std::string("Token x")}) {
    const auto refused = issuer.check_bearer(authorization);
    ASSERT_TRUE(refused.has_value()) << authorization;
    EXPECT_EQ(refused->status, 401);
    EXPECT_EQ(header(*refused, "WWW-Authenticate").rfind("Bearer", 0), 0u);
    EXPECT_EQ(json_field(refused->body, "error"), "invalid_request");
  }
}

TEST_F(OAuthIssuerTest, UnknownOrExpiredTokenIs401InvalidToken) {
  const auto r = issuer.token_request(
      "", "grant_type=client_credentials&client_id=client-1&client_secret=s3cret!");
  const std::string token = json_field(r.body, "access_token");
  const auto unknown = issuer.check_bearer("Bearer not-a-token");
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->status, 401);
  EXPECT_EQ(json_field(unknown->body, "error"), "invalid_token");
  EXPECT_NE(header(*unknown, "WWW-Authenticate").find("error=\"invalid_token\""),
            std::string::npos);

  clock.now += 3599s;
  EXPECT_EQ(issuer.check_bearer("Bearer " + token), std::nullopt);
  clock.now += 1s;
  const auto expired = issuer.check_bearer("Bearer " + token);
  ASSERT_TRUE(expired.has_value());
  EXPECT_EQ(json_field(expired->body, "error"), "invalid_token");
  EXPECT_NE(expired->body.find("expired"), std::string::npos) << expired->body;
}

}  // namespace
