// Minimal blocking HTTP/1.1 client for tests: one keep-alive connection to 127.0.0.1.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

namespace sgs::test {

struct http_response {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

// HTTPS instead of HTTP: the server's certificate must verify against `trust_file` and be
// for 127.0.0.1. The version bounds are OpenSSL's (TLS1_1_VERSION...; 0 = no bound); a
// maximum below TLS 1.2 also lowers the client's security level so it really offers it.
struct tls_client_options {
  std::filesystem::path trust_file;
  int min_version = 0;
  int max_version = 0;
};

class http_client {
 public:
  explicit http_client(std::uint16_t port);
  // Connects and completes the TLS handshake; throws boost::system::system_error when the
  // handshake fails (wrong certificate, version refused).
  http_client(std::uint16_t port, tls_client_options tls);
  ~http_client();
  http_response request(const std::string& method, const std::string& target,
                        const std::string& body = {},
                        const std::map<std::string, std::string>& headers = {});
  http_response post(const std::string& target, const std::string& body) {
    return request("POST", target, body);
  }
  // Sends raw bytes and reads whatever comes back until the server closes or `timeout_ms`.
  std::string raw_exchange(const std::string& bytes, int timeout_ms = 3000);
  bool connected() const;
  // True once the server has closed this connection (checked without reading anything).
  bool closed_by_server() const;
  // TLS: hex SHA-256 of the certificate the server presented on the current connection.
  std::string peer_certificate_sha256() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sgs::test
