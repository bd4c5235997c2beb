// ECDSA verification of signed webhooks with OpenSSL's EVP API (high-S signatures accepted,
// as SendGrid does not normalise them).
#include "events/signature.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

namespace sgs::events {

struct signature_verifier::keys {
  std::vector<EVP_PKEY*> list;
  ~keys() {
    for (auto* k : list) EVP_PKEY_free(k);
  }
};

signature_verifier::signature_verifier() : keys_(std::make_unique<keys>()) {}
signature_verifier::signature_verifier(signature_verifier&&) noexcept = default;
signature_verifier& signature_verifier::operator=(signature_verifier&&) noexcept = default;
signature_verifier::~signature_verifier() = default;

std::size_t signature_verifier::key_count() const { return keys_ ? keys_->list.size() : 0; }

bool decode_base64(std::string_view text, std::string& out) {
  // Lenient as SendGrid's Node.js library (Buffer.from(.., "base64")): the URL-safe alphabet
  // and missing padding are accepted, so a signature forwarded through a proxy that rewrote
  // it that way still verifies. The bytes must still be exactly the DER signature or key.
  std::string clean;
  clean.reserve(text.size() + 2);
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '-') c = '+';
    if (c == '_') c = '/';
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/' || c == '=';
    if (!ok) return false;
    clean.push_back(c);
  }
  if (clean.empty()) return false;
  const std::size_t first_pad = clean.find('=');
  if (first_pad == std::string::npos) {
    if (clean.size() % 4 == 1) return false;  // no whole byte in the last group
    clean.append((4 - clean.size() % 4) % 4, '=');
  }
  if (clean.size() % 4 != 0) return false;
  const std::size_t pad_at = clean.find('=');
  std::size_t padding = 0;
  if (pad_at != std::string::npos) {
    padding = clean.size() - pad_at;
    if (padding > 2 || clean.find_first_not_of('=', pad_at) != std::string::npos) return false;
  }
  out.assign(clean.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(clean.data()),
                                static_cast<int>(clean.size()));
  if (n < 0) return false;
  out.resize(static_cast<std::size_t>(n) - padding);  // EVP_DecodeBlock counts padding as zeros
  return true;
}

std::variant<signature_verifier, std::string> signature_verifier::from_base64_keys(
    const std::vector<std::string>& keys_b64) {
  signature_verifier v;
  for (std::size_t i = 0; i < keys_b64.size(); ++i) {
    std::string der;
    if (!decode_base64(keys_b64[i], der)) {
      return "webhook_verification_key[" + std::to_string(i) +
             "] is not base64 (copy the key SendGrid shows, MFkw...)";
    }
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    EVP_PKEY* key = d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()));
    if (key == nullptr || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
      EVP_PKEY_free(key);
      return "webhook_verification_key[" + std::to_string(i) +
             "] is not a public key (copy the key SendGrid shows, MFkw...)";
    }
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
      EVP_PKEY_free(key);
      return "webhook_verification_key[" + std::to_string(i) + "] is not an elliptic-curve key";
    }
    v.keys_->list.push_back(key);
  }
  return v;
}

bool signature_verifier::verify(std::string_view timestamp, std::string_view body,
                                std::string_view signature_base64) const {
  if (!keys_ || timestamp.empty() || signature_base64.empty()) return false;
  std::string der;
  if (!decode_base64(signature_base64, der)) return false;
  for (EVP_PKEY* key : keys_->list) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr) return false;
    bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
              EVP_DigestVerifyUpdate(ctx, timestamp.data(), timestamp.size()) == 1 &&
              EVP_DigestVerifyUpdate(ctx, body.data(), body.size()) == 1 &&
              EVP_DigestVerifyFinal(ctx, reinterpret_cast<const unsigned char*>(der.data()),
                                    der.size()) == 1;
    EVP_MD_CTX_free(ctx);
    if (ok) return true;
  }
  ERR_clear_error();  // a failed verify leaves entries on this thread's OpenSSL error queue
  return false;
}

}  // namespace sgs::events
