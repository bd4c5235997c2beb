// Minimal blocking HTTP/1.1 client for tests: one keep-alive connection to 127.0.0.1.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace sgs::test {

struct http_response {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

class http_client {
 public:
  explicit http_client(std::uint16_t port);
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

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sgs::test
