// Request routing and the mapping of outcomes to HTTP answers (pure: no sockets, no Beast).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/write_result.hpp"

namespace sgs::webhook {

// An HTTP answer before it is put on the wire.
struct reply {
  int status = 200;
  std::string body;  // JSON unless content_type says otherwise
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Allow
  bool close = false;  // close the connection after this answer
};

enum class route_kind {
  webhook_post,  // POST /webhooks/sendgrid/{source}
  healthz,       // GET|HEAD /healthz
  metrics,       // GET /metrics
  oauth_token,   // POST /oauth/token/{source}
  answer,        // answered right away (404, 405): see `immediate`
};

struct route_result {
  route_kind kind = route_kind::answer;
  std::string source;  // for webhook_post and oauth_token
  reply immediate;     // for answer
};

// Decides what a request is for. `source_exists` says whether a source name is configured.
// The query string is ignored; a trailing slash after the source is accepted.
template <class SourceExists>
route_result route(std::string_view method, std::string_view target, SourceExists&& source_exists);

// Which listener a request came in on. With server.admin_listen set, /healthz and /metrics are
// served only on the admin listener (404 on the public one) and the admin listener serves
// nothing else.
enum class listener_role { public_and_admin, public_only, admin_only };
route_result restrict_to(listener_role role, route_result routed);

// 400 for a body that is not a JSON array of objects; `reason` is the parser's sentence.
reply bad_request(std::string_view reason);
// 413 for a body over the limit; the connection is closed because the rest is not read.
reply body_too_large(std::uint64_t limit);
// The answer for a store outcome: 200 with counts after commit; 503 when nothing was stored.
reply reply_for(const store::write_result& result);
// 503 when the connection cap is reached.
reply too_many_connections();

// Quotes a string as a JSON string literal (for bodies we build by hand).
std::string json_quote(std::string_view text);

// ---- implementation of the template ----
route_result route_impl(std::string_view method, std::string_view path, bool source_known,
                        std::string_view source);

template <class SourceExists>
route_result route(std::string_view method, std::string_view target, SourceExists&& source_exists) {
  std::string_view path = target.substr(0, target.find('?'));
  std::string_view source;
  bool known = false;
  for (const std::string_view prefix : {"/webhooks/sendgrid/", "/oauth/token/"}) {
    if (!path.starts_with(prefix)) continue;
    source = path.substr(prefix.size());
    if (source.ends_with('/')) source.remove_suffix(1);
    known = !source.empty() && source.find('/') == std::string_view::npos && source_exists(source);
  }
  return route_impl(method, path, known, source);
}

}  // namespace sgs::webhook
