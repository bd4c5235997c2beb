// Verifies SendGrid's signed Event Webhook: ECDSA P-256/SHA-256 over timestamp + raw body.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sgs::events {

// Holds the parsed public keys of one source. Immutable after construction, so it may be
// shared between threads. A body is authentic when any key verifies it (key rotation,
// several webhooks or subaccounts posting to one source).
class signature_verifier {
 public:
  // Keys as SendGrid shows them: base64 of the DER SubjectPublicKeyInfo ("MFkw..."); ASCII
  // whitespace inside is ignored. Returns an error sentence naming the bad key's position.
  static std::variant<signature_verifier, std::string> from_base64_keys(
      const std::vector<std::string>& keys);

  signature_verifier(signature_verifier&&) noexcept;
  signature_verifier& operator=(signature_verifier&&) noexcept;
  ~signature_verifier();

  // `timestamp` is the X-Twilio-Email-Event-Webhook-Timestamp header value and
  // `signature_base64` the X-Twilio-Email-Event-Webhook-Signature value, both as sent; `body`
  // is the raw request body. Never throws; false for any malformed input.
  bool verify(std::string_view timestamp, std::string_view body,
              std::string_view signature_base64) const;

  std::size_t key_count() const;

 private:
  signature_verifier();
  struct keys;
  std::unique_ptr<keys> keys_;
};

// Base64 to bytes: standard or URL-safe alphabet, padding optional, ASCII whitespace ignored;
// false when malformed.
bool decode_base64(std::string_view text, std::string& out);

}  // namespace sgs::events
