// A P-256 key pair made with OpenSSL for tests: signs webhook bodies as SendGrid does
// (ECDSA/SHA-256 over timestamp + raw body, DER signature in base64).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace sgs::test {

class test_signer {
 public:
  test_signer();  // a fresh key pair
  ~test_signer();
  test_signer(const test_signer&) = delete;
  test_signer& operator=(const test_signer&) = delete;

  // base64 of the DER SubjectPublicKeyInfo ("MFkw..."), as SendGrid shows public keys.
  const std::string& public_key() const { return public_key_; }
  // The X-Twilio-Email-Event-Webhook-Signature value for `timestamp` + `body`.
  std::string sign(std::string_view timestamp, std::string_view body) const;

 private:
  struct key;
  std::unique_ptr<key> key_;
  std::string public_key_;
};

}  // namespace sgs::test
