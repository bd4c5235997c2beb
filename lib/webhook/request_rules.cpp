// Header rules for framing, credentials and content coding; pure functions.
#include "webhook/request_rules.hpp"

#include <array>
#include <string>

#include "text/json.hpp"
#include "text/strings.hpp"

namespace sgs::webhook {
namespace {

using text::iequals;
using text::trim;

reply closing(int status, std::string_view message) {
  reply r;
  r.status = status;
  r.body = text::json_error(message);
  r.close = true;
  return r;
}

}  // namespace

reply malformed_request(std::string_view what) {
  return closing(400, "malformed HTTP request (" + std::string(what) +
                          "); the connection is closed and nothing was stored");
}

std::optional<reply> check_request_head(unsigned version, const std::vector<header_field>& fields) {
  int hosts = 0, lengths = 0, codings = 0;
  std::string_view transfer_encoding, content_encoding;
  constexpr std::array<std::string_view, 3> once = {"Authorization",
                                                    "X-Twilio-Email-Event-Webhook-Signature",
                                                    "X-Twilio-Email-Event-Webhook-Timestamp"};
  std::array<int, once.size()> seen{};
  std::vector<std::string_view> transfer_encodings;
  for (const auto& f : fields) {
    if (iequals(f.name, "Host")) {
      ++hosts;
    } else if (iequals(f.name, "Content-Length")) {
      ++lengths;
    } else if (iequals(f.name, "Transfer-Encoding")) {
      transfer_encodings.push_back(trim(f.value));
    } else if (iequals(f.name, "Content-Encoding")) {
      ++codings;
      content_encoding = trim(f.value);
    }
    for (std::size_t i = 0; i < once.size(); ++i) {
      if (iequals(f.name, once[i])) ++seen[i];
    }
  }
  if (!transfer_encodings.empty()) {
    transfer_encoding = transfer_encodings.front();
    if (version < 11) {
      return closing(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request");
    }
    if (lengths > 0) {
      return closing(400, "a request must not carry both Transfer-Encoding and Content-Length");
    }
    if (transfer_encodings.size() > 1) {
      return closing(501, "Transfer-Encoding must be sent once; only \"chunked\" is implemented");
    }
    if (transfer_encoding.empty()) return closing(400, "Transfer-Encoding is empty");
    if (!iequals(transfer_encoding, "chunked")) {
      return closing(501, "transfer coding \"" + text::excerpt(transfer_encoding) +
                              "\" is not implemented; send the body with Content-Length or "
                              "Transfer-Encoding: chunked");
    }
  }
  if (lengths > 1) return closing(400, "Content-Length must be sent once");
  if (version >= 11 && hosts != 1) {
    return closing(400, hosts == 0 ? "an HTTP/1.1 request needs a Host header"
                                   : "the Host header must be sent once");
  }
  if (hosts > 1) return closing(400, "the Host header must be sent once");
  for (std::size_t i = 0; i < once.size(); ++i) {
    if (seen[i] > 1) {
      return closing(
          400, "the " + std::string(once[i]) + " header must be sent once; nothing was stored");
    }
  }
  if (codings > 1 || (codings == 1 && !iequals(content_encoding, "identity"))) {
    return closing(415, "Content-Encoding \"" + text::excerpt(content_encoding) +
                            "\" is not accepted; send the body uncompressed (identity); nothing "
                            "was stored");
  }
  return std::nullopt;
}

}  // namespace sgs::webhook
