// Basic auth and signature checks for webhook POSTs; pure apart from OpenSSL calls.
#include "webhook/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <charconv>

#include "text/strings.hpp"

namespace sgs::webhook {
namespace {

reply refuse(int status, std::string_view message) {
  reply r;
  r.status = status;
  r.body = "{\"error\":" + json_quote(message) + "}";
  return r;
}

}  // namespace

std::string basic_auth_header(std::string_view user_colon_password) {
  std::string b64(4 * ((user_colon_password.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                                reinterpret_cast<const unsigned char*>(user_colon_password.data()),
                                static_cast<int>(user_colon_password.size()));
  b64.resize(static_cast<std::size_t>(n));
  return "Basic " + b64;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<reply> check_basic_auth(const source_auth& auth, std::string_view authorization) {
  if (!auth.basic_auth_header) return std::nullopt;
  // RFC 9110 §11.1: the scheme name is case-insensitive ("basic", "BASIC"); the credentials
  // after it are compared exactly, in constant time.
  constexpr std::string_view scheme = "Basic ";
  const std::string_view expected = std::string_view(*auth.basic_auth_header).substr(scheme.size());
  std::string_view given;
  if (authorization.size() > scheme.size()) {
    // The scheme's case is free, the space after it is not.
    if (text::iequals(authorization.substr(0, scheme.size()), scheme)) {
      given = authorization.substr(scheme.size());
      while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
    }
  }
  if (!given.empty() && constant_time_equal(given, expected)) return std::nullopt;
  reply r =
      refuse(401, authorization.empty() ? "this source requires basic auth; nothing was stored"
                                        : "wrong basic auth credentials; nothing was stored");
  r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"sendgrid-source\", charset=\"UTF-8\"");
  return r;
}

std::optional<reply> check_signature(const source_auth& auth, std::string_view timestamp,
                                     std::string_view signature, std::string_view raw_body,
                                     std::chrono::system_clock::time_point now) {
  const auto stored = auth.stored ? auth.stored->current() : nullptr;
  if (auth.verifier == nullptr && stored == nullptr) return std::nullopt;
  if (timestamp.empty() || signature.empty()) {
    return refuse(
        403,
        "this source requires a signed webhook: the X-Twilio-Email-Event-Webhook-Signature and "
        "-Timestamp headers are missing; nothing was stored");
  }
  // SendGrid sends decimal UNIX seconds; anything else is not a timestamp it signed.
  if (timestamp.size() > 19 ||
      timestamp.find_first_not_of("0123456789") != std::string_view::npos) {
    return refuse(403,
                  "the X-Twilio-Email-Event-Webhook-Timestamp header is not an integer number of "
                  "seconds; nothing was stored");
  }
  const bool verified = (auth.verifier && auth.verifier->verify(timestamp, raw_body, signature)) ||
                        (stored && stored->verify(timestamp, raw_body, signature));
  if (!verified) {
    return refuse(403,
                  "the webhook signature does not verify with any configured "
                  "webhook_verification_key or key stored by `webhook configure`; nothing was "
                  "stored");
  }
  if (auth.max_age_seconds) {
    std::int64_t ts = 0;
    const auto [end, ec] =
        std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), ts);
    const auto now_s =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    if (ec != std::errc() || end != timestamp.data() + timestamp.size() ||
        now_s - ts > *auth.max_age_seconds) {
      return refuse(403,
                    "the webhook signature timestamp is older than webhook_max_age_seconds; "
                    "nothing was stored");
    }
  }
  return std::nullopt;
}

}  // namespace sgs::webhook
