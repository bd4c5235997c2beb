// Self-signed certificates for the TLS tests, made with the OpenSSL API in a temp dir.
#pragma once

#include <filesystem>
#include <string>

namespace sgs::test {

struct test_certificate {
  std::filesystem::path cert_file;  // PEM, self-signed, CN and SAN IP 127.0.0.1
  std::filesystem::path key_file;   // PEM, P-256, unencrypted
  std::string sha256;               // hex SHA-256 of the DER certificate (its fingerprint)
};

// Writes <dir>/<name>.crt and <dir>/<name>.key, valid for one day. Each call makes a new
// key, so two calls give two different fingerprints.
test_certificate make_self_signed_certificate(const std::filesystem::path& dir,
                                              const std::string& name);

// Hex SHA-256 of a certificate's DER bytes, as used by test_certificate::sha256.
std::string certificate_sha256(const void* x509);

}  // namespace sgs::test
