// OAuth over 127.0.0.1: the token endpoint as SendGrid calls it, and bearer tokens on the
// webhook, with an injected clock for expiry.
#include "webhook/oauth.hpp"

#include <gtest/gtest.h>

#include <atomic>

#include "http_client.hpp"
#include "test_server.hpp"

using namespace std::chrono_literals;
using sgs::test::count_events;
using sgs::test::http_client;
using sgs::test::temp_dir;
using sgs::test::test_server;

namespace {

const std::string url = "/webhooks/sendgrid/default";
const std::map<std::string, std::string> form = {
    {"Content-Type", "application/x-www-form-urlencoded"}};

std::string batch(const std::string& id) {
  return R"([{"email":")" + id + R"(@example.com","timestamp":1700000000,"event":"delivered",)" +
         R"("sg_event_id":")" + id + R"("}])";
}

std::string access_token_of(const std::string& body) {
  const std::string key = "\"access_token\":\"";
  const auto start = body.find(key);
  if (start == std::string::npos) return {};
  return body.substr(start + key.size(), body.find('"', start + key.size()) - start - key.size());
}

class OAuthWebhookTest : public ::testing::Test {
 protected:
  temp_dir dir;
  std::atomic<std::int64_t> seconds_passed{0};  // the issuer's clock, moved by the test
  sgs::webhook::oauth_issuer issuer{
      sgs::webhook::oauth_client{"a835e7210bbb47edbfa71bdfc909b2d7", "335a9b0c65324fd2", 600s},
      [this] {
        return sgs::webhook::token_table::clock::time_point(std::chrono::hours(1)) +
               std::chrono::seconds(seconds_passed.load());
      }};
  std::unique_ptr<test_server> server = make_server();

  std::unique_ptr<test_server> make_server() {
    sgs::webhook::source_auth auth;
    auth.oauth = &issuer;
    return std::make_unique<test_server>(
        dir.path(), std::vector<std::string>{"default", "plain"}, sgs::webhook::server_options{},
        sgs::store::store_options{},
        std::map<std::string, sgs::webhook::source_auth>{{"default", auth}});
  }
  std::string fetch_token(http_client& client) {
    auto res = client.request("POST", "/oauth/token/default",
                              "grant_type=client_credentials&client_id="
                              "a835e7210bbb47edbfa71bdfc909b2d7&client_secret=335a9b0c65324fd2",
                              form);
    EXPECT_EQ(res.status, 200) << res.body;
    return access_token_of(res.body);
  }
  sgs::test::http_response post_with(http_client& client, const std::string& authorization,
                                     const std::string& body) {
    std::map<std::string, std::string> headers;
    if (!authorization.empty()) headers["Authorization"] = authorization;
    return client.request("POST", url, body, headers);
  }
};

TEST_F(OAuthWebhookTest, TokenFromTheEndpointLetsTheWebhookStore) {
  http_client client(server->port());
  auto res = client.request("POST", "/oauth/token/default",
                            "grant_type=client_credentials&client_id="
                            "a835e7210bbb47edbfa71bdfc909b2d7&client_secret=335a9b0c65324fd2",
                            form);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_NE(res.body.find(R"("token_type":"Bearer")"), std::string::npos) << res.body;
  EXPECT_NE(res.body.find(R"("expires_in":600)"), std::string::npos) << res.body;
  EXPECT_EQ(res.headers["cache-control"], "no-store");
  const std::string token = access_token_of(res.body);
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(post_with(client, "Bearer " + token, batch("o1")).status, 200);
  EXPECT_EQ(count_events(server->db_file()), 1);
}

TEST_F(OAuthWebhookTest, ClientCredentialsInBasicAuthWorkToo) {
  http_client client(server->port());
  auto res = client.request(
      "POST", "/oauth/token/default", "grant_type=client_credentials",
      {{"Content-Type", "application/x-www-form-urlencoded"},
       {"Authorization",
        sgs::webhook::basic_auth_header("a835e7210bbb47edbfa71bdfc909b2d7:335a9b0c65324fd2")}});
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(post_with(client, "Bearer " + access_token_of(res.body), batch("o2")).status, 200);
}

TEST_F(OAuthWebhookTest, PostWithoutTokenIs401WithBearerChallengeAndNothingIsStored) {
  http_client client(server->port());
  auto res = post_with(client, "", batch("o3"));
  EXPECT_EQ(res.status, 401);
  EXPECT_EQ(res.headers["www-authenticate"].rfind("Bearer", 0), 0u)
      << res.headers["www-authenticate"];
  EXPECT_NE(res.body.find("invalid_request"), std::string::npos) << res.body;
  res = post_with(client, "Bearer made-up", batch("o4"));
  EXPECT_EQ(res.status, 401);
  EXPECT_NE(res.body.find("invalid_token"), std::string::npos) << res.body;
  EXPECT_EQ(count_events(server->db_file()), 0);
}

TEST_F(OAuthWebhookTest, ExpiredTokenIs401InvalidTokenAndAFreshTokenIsAccepted) {
  http_client client(server->port());
  const std::string old_token = fetch_token(client);
  seconds_passed = 599;
  EXPECT_EQ(post_with(client, "Bearer " + old_token, batch("o5")).status, 200);
  seconds_passed = 600;
  auto res = post_with(client, "Bearer " + old_token, batch("o6"));
  EXPECT_EQ(res.status, 401);
  EXPECT_NE(res.body.find("invalid_token"), std::string::npos) << res.body;  // SendGrid refetches
  const std::string fresh = fetch_token(client);
  EXPECT_NE(fresh, old_token);
  EXPECT_EQ(post_with(client, "Bearer " + fresh, batch("o6")).status, 200);
  EXPECT_EQ(count_events(server->db_file()), 2);
}

TEST_F(OAuthWebhookTest, WrongClientIs401AndWrongGrantIs400) {
  http_client client(server->port());
  auto res = client.request("POST", "/oauth/token/default",
                            "grant_type=client_credentials&client_id="
                            "a835e7210bbb47edbfa71bdfc909b2d7&client_secret=guess",
                            form);
  EXPECT_EQ(res.status, 401);
  EXPECT_NE(res.body.find(R"("error":"invalid_client")"), std::string::npos) << res.body;
  EXPECT_EQ(res.body.find("335a9b0c65324fd2"), std::string::npos);
  res = client.request("POST", "/oauth/token/default",
                       "grant_type=authorization_code&client_id="
                       "a835e7210bbb47edbfa71bdfc909b2d7&client_secret=335a9b0c65324fd2",
                       form);
  EXPECT_EQ(res.status, 400);
  EXPECT_NE(res.body.find(R"("error":"unsupported_grant_type")"), std::string::npos) << res.body;
}

TEST_F(OAuthWebhookTest, TokenEndpointIsOnlyForSourcesWithOAuth) {
  http_client client(server->port());
  EXPECT_EQ(
      client.request("POST", "/oauth/token/plain", "grant_type=client_credentials", form).status,
      404);
  EXPECT_EQ(
      client.request("POST", "/oauth/token/nosuch", "grant_type=client_credentials", form).status,
      404);
  EXPECT_EQ(client.request("GET", "/oauth/token/default").status, 405);
  // The source without OAuth takes posts without a token.
  EXPECT_EQ(client.post("/webhooks/sendgrid/plain", batch("o7")).status, 200);
}

}  // namespace
