// Routing table and HTTP answers for the webhook endpoint; pure functions.
#include "webhook/routes.hpp"

#include "text/json.hpp"

namespace sgs::webhook {
namespace {

reply error_reply(int status, std::string_view message) {
  reply r;
  r.status = status;
  r.body = sgs::text::json_error(message);
  return r;
}

reply method_not_allowed(std::string_view allow) {
  reply r = error_reply(405, "method not allowed; use " + std::string(allow));
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

}  // namespace

std::string json_quote(std::string_view text) { return sgs::text::json_quote(text); }

route_result route_impl(std::string_view method, std::string_view path, bool source_known,
                        std::string_view source) {
  route_result r;
  constexpr std::string_view prefix = "/webhooks/sendgrid/";
  if (path.starts_with(prefix)) {
    if (!source_known) {
      r.immediate =
          error_reply(404, "no source named " + json_quote(source) +
                               " is configured; the URL is /webhooks/sendgrid/<source name>");
      return r;
    }
    if (method != "POST") {
      r.immediate = method_not_allowed("POST");
      return r;
    }
    r.kind = route_kind::webhook_post;
    r.source = std::string(source);
    return r;
  }
  constexpr std::string_view token_prefix = "/oauth/token/";
  if (path.starts_with(token_prefix)) {
    if (!source_known) {
      r.immediate = error_reply(
          404, "no source named " + json_quote(source) +
                   " with webhook_oauth_client_id is configured; the URL is /oauth/token/<source>");
      return r;
    }
    if (method != "POST") {
      r.immediate = method_not_allowed("POST");
      return r;
    }
    r.kind = route_kind::oauth_token;
    r.source = std::string(source);
    return r;
  }
  if (path == "/healthz") {
    if (method != "GET" && method != "HEAD") {
      r.immediate = method_not_allowed("GET, HEAD");
      return r;
    }
    r.kind = route_kind::healthz;
    return r;
  }
  if (path == "/metrics") {
    if (method != "GET" && method != "HEAD") {
      r.immediate = method_not_allowed("GET, HEAD");
      return r;
    }
    r.kind = route_kind::metrics;
    return r;
  }
  r.immediate = error_reply(404, "not found; webhooks go to POST /webhooks/sendgrid/<source name>");
  return r;
}

route_result restrict_to(listener_role role, route_result routed) {
  const bool admin_route = routed.kind == route_kind::healthz || routed.kind == route_kind::metrics;
  if (role == listener_role::public_only && admin_route) {
    route_result r;
    r.immediate =
        error_reply(404, "not found; webhooks go to POST /webhooks/sendgrid/<source name>");
    return r;
  }
  if (role == listener_role::admin_only && !admin_route) {
    route_result r;
    r.immediate = error_reply(
        404, "not found; this is the admin listener: GET /healthz and GET /metrics only");
    return r;
  }
  return routed;
}

reply bad_request(std::string_view reason) {
  return error_reply(400, std::string(reason) + "; nothing was stored");
}

reply body_too_large(std::uint64_t limit) {
  reply r = error_reply(413, "body is larger than server.max_body_bytes (" + std::to_string(limit) +
                                 " bytes); nothing was stored");
  r.close = true;
  return r;
}

reply too_many_connections() {
  reply r = error_reply(503, "too many open connections; retry later");
  r.headers.emplace_back("Retry-After", "1");
  r.close = true;
  return r;
}

reply reply_for(const store::write_result& result) {
  using outcome = store::write_result::outcome;
  switch (result.status) {
    case outcome::committed: {
      reply r;
      r.body = "{\"stored\":" + std::to_string(result.stored) +
               ",\"duplicates\":" + std::to_string(result.duplicates) +
               ",\"rejected\":" + std::to_string(result.rejected) + "}";
      return r;
    }
    case outcome::overloaded: {
      reply r = error_reply(503, "the writer is overloaded; nothing was stored, retry later");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    case outcome::closed:
      return error_reply(503, "shutting down; nothing was stored, retry later");
    case outcome::failed:
      break;
  }
  return error_reply(503,
                     "storage unavailable (" + result.error + "); nothing was stored, retry later");
}

}  // namespace sgs::webhook
