// A webhook POST's body, once read: signature check, parse and event cap (pure).
#include "webhook/intake.hpp"

namespace sgs::webhook {

std::variant<events::parsed_batch, reply> check_and_parse_body(
    const source_auth& auth, const signature_headers& headers, std::string body,
    std::uint32_t max_events, std::chrono::system_clock::time_point now) {
  // The signature covers the raw bytes as received: verify before anything is parsed.
  if (auto refused = check_signature(auth, headers.timestamp, headers.signature, body, now)) {
    return std::move(*refused);
  }
  auto parsed = events::parse_owned_batch(std::move(body));
  if (auto* err = std::get_if<events::batch_error>(&parsed)) return bad_request(err->message);
  auto& batch = std::get<events::parsed_batch>(parsed);
  const std::size_t elements = batch.events.size() + batch.rejected.size();
  if (elements > max_events) {
    reply r;
    r.status = 413;
    r.body = "{\"error\":" +
             json_quote("the body holds " + std::to_string(elements) +
                        " elements, more than server.max_events_per_request (" +
                        std::to_string(max_events) + "); nothing was stored") +
             "}";
    return r;
  }
  return std::move(batch);
}

}  // namespace sgs::webhook
