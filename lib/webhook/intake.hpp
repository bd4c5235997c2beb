// A webhook POST's body, once read: signature check, parse and event cap (pure). The
// server calls it after reading the body; the request fuzzer calls it on bytes alone.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "events/parse.hpp"
#include "webhook/auth.hpp"
#include "webhook/routes.hpp"

namespace sgs::webhook {

// The signature headers of the request, as sent (empty when absent).
struct signature_headers {
  std::string_view timestamp;  // X-Twilio-Email-Event-Webhook-Timestamp
  std::string_view signature;  // X-Twilio-Email-Event-Webhook-Signature
};

// The batch to store, or the answer that refuses the body: 403 (signature), 400 (not a JSON
// array; is_bad_body() says so), 413 (more than max_events elements). The signature is
// verified over `body` exactly as received, before anything is parsed. `now` is injected
// for the signature's max-age check. Never throws for any input bytes.
std::variant<events::parsed_batch, reply> check_and_parse_body(
    const source_auth& auth, const signature_headers& headers, std::string body,
    std::uint32_t max_events, std::chrono::system_clock::time_point now);

// True for the answer check_and_parse_body gives a body that is not a JSON array of events.
inline bool is_bad_body(const reply& r) { return r.status == 400; }

}  // namespace sgs::webhook
