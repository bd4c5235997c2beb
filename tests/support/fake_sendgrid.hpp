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
#include "test_signer.hpp"

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

// An Event Webhook of the fake account (the multiple-webhook API, sendgrid-api.md §11).
struct fake_webhook {
  std::string id;
  std::string url;
  bool enabled = true;
  std::map<std::string, bool> events;   // API switch names (open, spam_report, ...)
  std::shared_ptr<test_signer> signer;  // signing on when set (its key is the public_key)
};

// The account the fake serves. Tests edit it between syncs through fake_sendgrid::account().
struct fake_account {
  std::string api_key = "SG.test-key";
  bool legacy = false;  // /v3/marketing/* answers 403 as SendGrid does for legacy accounts
  // Marketing Campaigns objects, as JSON objects (one string each).
  std::vector<std::string> lists;
  std::vector<std::string> segments;
  int segments_page_size = 0;      // > 0: segments come in pages linked by _metadata.next
  std::string segments_next_link;  // when set, every next link is this (an unusable one)
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

  // Account set-up (check, webhook configure). A request to one of these paths whose scope
  // is not in `scopes` answers 403 (Marketing paths are not checked against scopes).
  std::vector<std::string> scopes = {"marketing.read",
                                     "whitelabel.read",
                                     "asm.groups.read",
                                     "user.webhooks.event.settings.read",
                                     "user.webhooks.event.settings.update",
                                     "user.webhooks.event.test.create"};
  bool senders_forbidden = false;  // /v3/verified_senders has no read scope: a 403 switch
  // Paged as SendGrid does: domains by limit/offset, senders by limit/lastSeenID (ids 1..n).
  std::vector<std::pair<std::string, bool>> domains;  // domain, valid
  std::vector<std::pair<std::string, bool>> senders;  // from_email, verified
  std::vector<std::pair<std::int64_t, std::string>> groups;
  std::vector<fake_webhook> webhooks;
  int max_webhooks = 5;
  // Ids the fake hands out ("" = its own): the next created webhook's and the contact export
  // job's. An id in a request path must be one percent-encoded segment, as for a real router.
  std::string next_webhook_id;
  std::string export_job_id;
  // Answered as every signed webhook's public_key when set (a key the daemon cannot use).
  std::string public_key_override;

  // The account collections (issue 16; tests/support/fake_sendgrid_collections.cpp). Items
  // are JSON objects unless said otherwise. Each path answers 403 unless its scope is in
  // `scopes`.
  std::vector<std::string> bounces;  // suppressions: each with "created" (unix) and "email"
  std::vector<std::string> blocks;
  std::vector<std::string> spam_reports;
  std::vector<std::string> invalid_emails;
  std::vector<std::string> global_unsubscribes;
  std::map<std::int64_t, std::vector<std::string>> group_members;  // group id -> addresses
  std::vector<std::string> templates;                              // with "versions" inside
  std::vector<std::string> marketing_senders;  // /v3/marketing/senders (bare array)
  // /v3/verified_senders with limit/lastSeenID paging; when empty, `senders` answers (check).
  std::vector<std::string> verified_senders;
  std::string field_definitions;                  // the whole body; "" answers 404
  std::map<std::string, std::string> stats_days;  // date -> metrics object
  std::map<std::string, std::map<std::string, std::string>>
      category_stats;                         // date -> cat -> metrics
  std::vector<std::string> singlesend_stats;  // /v3/marketing/stats/singlesends results
  std::vector<std::string> automation_stats;
  // /v3/marketing/stats/{singlesends,automations}/{id}?aggregated_by=day: id -> that item's
  // results, each with "aggregation" set to its day ("YYYY-MM-DD"); filtered by
  // start_date/end_date, page_size/page_token paging like the listing.
  std::map<std::string, std::vector<std::string>> singlesend_days;
  std::map<std::string, std::vector<std::string>> automation_days;
  // /v3/messages: each with "msg_id" and "last_event_time" as "YYYY-MM-DDTHH:MM:SS.mmmZ".
  std::vector<std::string> messages;
  bool email_activity_addon = true;  // false: /v3/messages answers 403 even with the scope
  bool multi_webhook_api = true;     // false: settings/all answers 404 (legacy single webhook)
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
  // Statuses of the test-event posts made for POST /v3/user/webhooks/event/test (in order,
  // once each post is answered; 0 when it could not connect).
  std::vector<int> test_post_statuses() const;
  // Waits (up to `timeout`) until `n` test posts were answered.
  bool wait_test_posts(std::size_t n, std::chrono::milliseconds timeout) const;
  int count(const std::string& path_prefix) const;

 private:
  fake_response handle(const fake_request& req);
  fake_response serve_account(const fake_request& req);
  fake_response serve_setup(const fake_request& req, bool& handled);
  fake_response serve_collections(const fake_request& req, bool& handled);
  void post_test_events(std::string url, std::shared_ptr<test_signer> signer);
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
  std::vector<int> test_posts_;
  std::vector<std::thread> test_threads_;
  int webhooks_created_ = 0;
  int test_batches_ = 0;
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
