// Blocking HTTP client for the SendGrid API on libcurl: one attempt per call, no retries
// (those are decided by retry.hpp and done by api_session).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "sendgrid/retry.hpp"

namespace sgs::sendgrid {

struct client_options {
  std::string api_base = "https://api.sendgrid.com";  // no trailing '/'
  std::string api_key;                                // sent as "Authorization: Bearer ..."
  std::string on_behalf_of;                           // "" = no on-behalf-of header
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds request_timeout{60000};  // a whole API call
  // Export files can be large: a download has no total timeout but is aborted when it moves
  // less than 1 byte per second for this long.
  std::chrono::milliseconds download_stall_timeout{60000};
  std::size_t max_response_bytes = 64 * 1024 * 1024;  // API responses (not downloads)
  std::string user_agent = "sendgrid-source";
};

struct response {
  transport_status transport = transport_status::fatal;
  std::string transport_error;   // libcurl's message when transport != ok
  int status = 0;                // HTTP status when transport == ok
  std::string body;              // API body; for downloads only an error body (non-2xx)
  std::string rate_limit_reset;  // X-RateLimit-Reset, "" when absent
  std::string content_type;
};

// Owns two libcurl easy handles (API and downloads), so connections are reused across pages.
// Honours libcurl's defaults for the system CA store and the proxy variables (https_proxy,
// no_proxy, ...). Not thread-safe: one sync thread uses one client.
class api_client {
 public:
  explicit api_client(client_options options);
  ~api_client();
  api_client(const api_client&) = delete;
  api_client& operator=(const api_client&) = delete;

  // `url` is absolute (see paging.hpp); the API key and on-behalf-of are sent.
  response get(std::string_view url);
  response post_json(std::string_view url, std::string_view body);
  response patch_json(std::string_view url, std::string_view body);

  // Streams a file (an export URL: a pre-signed storage URL) into `sink` WITHOUT the API key
  // or on-behalf-of: those must never leave for another host. The bytes are passed as
  // received (no Content-Encoding decoding: export files are gzip files, not gzip-encoded
  // responses). `sink` returns false to abort. Redirects are followed (up to 5).
  response download(std::string_view url, const std::function<bool(std::string_view)>& sink);

  // Polled during transfers (about once a second and on every chunk): answering true aborts
  // the transfer, which then ends with transport_status::aborted.
  void set_abort_check(std::function<bool()> should_abort) {
    should_abort_ = std::move(should_abort);
  }

  const client_options& options() const { return options_; }

 private:
  struct handles;
  response perform(bool api, std::string_view method, std::string_view url, std::string_view body,
                   const std::function<bool(std::string_view)>* sink);

  client_options options_;
  std::unique_ptr<handles> handles_;
  std::function<bool()> should_abort_;
};

}  // namespace sgs::sendgrid
