// libFuzzer target: raw HTTP request bytes through the server's request path without a
// socket: Beast's request parser (the server's header limit), routing, basic auth, bearer
// tokens and the token endpoint, then the signature check, the event parser and the event
// cap (check_and_parse_body).
//
// Four sources: "open" (no auth), "basic" (basic auth user:pass), "signed" (the V1 public key
// of sendgrid-api.md 9, whose signed request is one of the seeds) and "oauth" (client id:secret,
// with its token endpoint POST /oauth/token/oauth).
#include <boost/beast/core/error.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "events/signature.hpp"
#include "webhook/auth.hpp"
#include "webhook/intake.hpp"
#include "webhook/oauth.hpp"
#include "webhook/routes.hpp"

namespace {

namespace http = boost::beast::http;
using namespace sgs;

struct sources {
  webhook::source_auth open;
  webhook::source_auth basic;
  webhook::source_auth signed_;
  webhook::source_auth oauth;
  std::unique_ptr<events::signature_verifier> verifier;
  std::unique_ptr<webhook::oauth_issuer> issuer;
};

const sources& fixture() {
  static const sources s = [] {
    sources out;
    out.basic.basic_auth_header = webhook::basic_auth_header("user:pass");
    auto v = events::signature_verifier::from_base64_keys(
        {"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/"
         "7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="});
    out.verifier = std::make_unique<events::signature_verifier>(
        std::get<events::signature_verifier>(std::move(v)));
    out.signed_.verifier = out.verifier.get();
    out.signed_.max_age_seconds = 10LL * 365 * 24 * 3600;
    out.issuer = std::make_unique<webhook::oauth_issuer>(
        webhook::oauth_client{"id", "secret", std::chrono::seconds(60)});
    out.oauth.oauth = out.issuer.get();
    return out;
  }();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const sources& src = fixture();
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);  // as the server
  parser.body_limit(1024 * 1024);
  parser.eager(true);
  std::size_t used = 0;
  while (used < size && !parser.is_done()) {
    boost::beast::error_code ec;
    const std::size_t n = parser.put(boost::asio::const_buffer(data + used, size - used), ec);
    if (ec == http::error::need_more && n == 0) break;
    if (ec && ec != http::error::need_more) return 0;  // the server answers 400 and closes
    used += n;
  }
  if (!parser.is_header_done()) return 0;
  auto& req = parser.get();
  const auto routed = webhook::route(std::string_view(req.method_string()),
                                     std::string_view(req.target()), [](std::string_view name) {
                                       return name == "open" || name == "basic" ||
                                              name == "signed" || name == "oauth";
                                     });
  const std::string_view authorization = req[http::field::authorization];
  if (routed.kind == webhook::route_kind::oauth_token) {
    if (parser.is_done() && routed.source == "oauth") {
      (void)src.issuer->token_request(authorization, req.body());
    }
    return 0;
  }
  if (routed.kind != webhook::route_kind::webhook_post) return 0;
  const webhook::source_auth& auth = routed.source == "basic"    ? src.basic
                                     : routed.source == "signed" ? src.signed_
                                     : routed.source == "oauth"  ? src.oauth
                                                                 : src.open;
  if (webhook::check_basic_auth(auth, authorization)) return 0;
  if (auth.oauth != nullptr && auth.oauth->check_bearer(authorization)) return 0;
  if (!parser.is_done()) return 0;  // the server would wait for the rest, then time out
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1600112600));
  auto result = webhook::check_and_parse_body(
      auth,
      {std::string_view(req["X-Twilio-Email-Event-Webhook-Timestamp"]),
       std::string_view(req["X-Twilio-Email-Event-Webhook-Signature"])},
      std::move(req.body()), 50000, now);
  if (auto* batch = std::get_if<events::parsed_batch>(&result)) {
    volatile std::size_t sink = batch->events.size() + batch->body().size();
    (void)sink;
  }
  return 0;
}
