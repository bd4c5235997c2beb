// A fake SendGrid API on 127.0.0.1:0 (Beast, blocking, a thread per connection) that the real
// libcurl client talks to: an account's objects, paging, the export job, legacy accounts and
// injected faults.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gzip.hpp"

namespace sgs::test {

struct fake_request {
  std::string method;
  std::string target;  // path and query
  std::string path;    // without the query
  std::string body;
  std::map<std::string, std::string> headers;        // lower-case names
  std::string query(const std::string& name) const;  // "" when absent
};

struct fake_response {
  int status = 200;
  std::string body;
  std::map<std::string, std::string> headers;
  std::string content_type = "application/json";
  std::chrono::milliseconds delay{0};  // before answering (slow server)
};

// The account the fake serves. Tests edit it between syncs through fake_sendgrid::account().
struct fake_account {
  std::string api_key = "SG.test-key";
  bool legacy = false;  // /v3/marketing/* answers 403 as SendGrid does for legacy accounts
  // Marketing Campaigns objects, as JSON objects (one string each).
  std::vector<std::string> lists;
  std::vector<std::string> segments;
  std::vector<std::string> singlesends;
  // Contact export: the files (already gzip-compressed, or not), and how many polls answer
  // "pending" before "ready".
  std::vector<std::string> export_files;
  int export_pending_polls = 2;
  bool export_fails = false;
  bool export_omits_count = false;  // a ready job with no files and no contact_count
  // Legacy objects.
  std::vector<std::string> legacy_lists;
  std::vector<std::string> legacy_segments;
  std::vector<std::string> legacy_campaigns;
  std::vector<std::string> legacy_recipients;
  // Page numbers of /v3/contactdb/recipients answered with an empty page (holes left by
  // deletions); pages are numbered over the recipients as if the holes were not there.
  std::vector<int> legacy_empty_pages;
};

class fake_sendgrid {
 public:
  fake_sendgrid();
  ~fake_sendgrid();
  fake_sendgrid(const fake_sendgrid&) = delete;
  fake_sendgrid& operator=(const fake_sendgrid&) = delete;

  std::string base_url() const;  // "http://127.0.0.1:PORT"
  std::uint16_t port() const { return port_; }

  // Runs `edit` on the account under the server's lock.
  void edit(const std::function<void(fake_account&)>& edit);
  // Queues answers for the next requests whose path starts with `path_prefix` (e.g.
  // "/v3/marketing/lists"): each is used once, before the account answers normally.
  void inject(const std::string& path_prefix, fake_response response);
  // Replaces every answer for paths starting with `path_prefix` (e.g. malformed JSON).
  void override_path(const std::string& path_prefix, fake_response response);

  std::vector<fake_request> requests() const;
  int count(const std::string& path_prefix) const;

 private:
  fake_response handle(const fake_request& req);
  fake_response serve_account(const fake_request& req);
  void accept_loop();
  void serve_connection(int slot);

  struct impl;
  std::unique_ptr<impl> impl_;
  std::uint16_t port_ = 0;
  mutable std::mutex mutex_;
  fake_account account_;
  std::vector<std::pair<std::string, fake_response>> injected_;
  std::vector<std::pair<std::string, fake_response>> overrides_;
  std::vector<fake_request> log_;
  int export_polls_ = 0;
  int export_jobs_ = 0;
};

// SendGrid's real error bodies.
inline constexpr std::string_view sendgrid_401_body =
    R"({"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked","field":null,"help":null}]})";
inline constexpr std::string_view sendgrid_403_body =
    R"({"errors":[{"field":null,"message":"access forbidden"}]})";
inline constexpr std::string_view sendgrid_429_body =
    R"({"errors":[{"field":null,"message":"too many requests"}]})";

}  // namespace sgs::test
