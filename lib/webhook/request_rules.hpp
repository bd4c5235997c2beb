// What a request's header must satisfy before anything else is read (pure): framing per
// RFC 9112 §6, credentials and signatures that appear once, a Host on HTTP/1.1, and no
// content coding we would store as if it were plain JSON.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "webhook/routes.hpp"

namespace sgs::webhook {

// One header field as received (name as sent, value without surrounding whitespace).
struct header_field {
  std::string_view name;
  std::string_view value;
};

// nullopt when the header may be served; else the answer, always with close = true, because
// after a framing or credential ambiguity the rest of the connection cannot be trusted to
// mean what a proxy in front of us thought it meant:
//  - Transfer-Encoding other than exactly one "chunked" → 501 (a coding we do not implement;
//    400 when empty), together with Content-Length → 400, on HTTP/1.0 → 400;
//  - more than one Content-Length field → 400;
//  - HTTP/1.1 without exactly one Host, HTTP/1.0 with more than one → 400;
//  - Authorization or either X-Twilio-Email-Event-Webhook-* header repeated → 400;
//  - Content-Encoding other than "identity" → 415.
std::optional<reply> check_request_head(unsigned version, const std::vector<header_field>& fields);

// An answer for a request whose bytes broke HTTP (the parser's sentence): 400 and close.
reply malformed_request(std::string_view what);

}  // namespace sgs::webhook
