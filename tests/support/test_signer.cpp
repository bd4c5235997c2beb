// OpenSSL key generation and ECDSA signing for the signed-webhook tests.
#include "test_signer.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace sgs::test {

namespace {

std::string base64(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

}  // namespace

struct test_signer::key {
  EVP_PKEY* pkey = nullptr;
  ~key() { EVP_PKEY_free(pkey); }
};

test_signer::test_signer() : key_(std::make_unique<key>()) {
  key_->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (!key_->pkey) throw std::runtime_error("EVP_PKEY_Q_keygen failed");
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key_->pkey, &der);
  if (len <= 0) throw std::runtime_error("i2d_PUBKEY failed");
  public_key_ = base64(der, static_cast<std::size_t>(len));
  OPENSSL_free(der);
}

test_signer::~test_signer() = default;

std::string test_signer::sign(std::string_view timestamp, std::string_view body) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(128, '\0');
  std::size_t sig_len = sig.size();
  const bool ok =
      ctx && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_->pkey) == 1 &&
      EVP_DigestSignUpdate(ctx, timestamp.data(), timestamp.size()) == 1 &&
      EVP_DigestSignUpdate(ctx, body.data(), body.size()) == 1 &&
      EVP_DigestSignFinal(ctx, reinterpret_cast<unsigned char*>(sig.data()), &sig_len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) throw std::runtime_error("EVP_DigestSign failed");
  return base64(reinterpret_cast<const unsigned char*>(sig.data()), sig_len);
}

}  // namespace sgs::test
