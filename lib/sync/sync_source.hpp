// One sync run of one source: every requested collection, in order, from the SendGrid API
// into the object tables, with a sync_runs row per collection.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "metrics/sync_metrics.hpp"
#include "sendgrid/client.hpp"
#include "sendgrid/session.hpp"
#include "store/object_store.hpp"

namespace sgs::sync {

// What a run is doing, for a terminal progress line. `state` is e.g. "fetching",
// "export pending", "downloading file 2/3", "merging", "tombstoning", "succeeded", "failed".
struct progress {
  std::string_view source;
  store::collection collection = store::collection::lists;
  std::string_view state;
  std::int64_t pages = 0;
  std::int64_t rows = 0;
};

struct sync_options {
  std::string source_name = "default";
  std::string on_behalf_of;  // named in 401/403 messages
  std::vector<store::collection> collections{store::all_collections.begin(),
                                             store::all_collections.end()};
  // Checked between pages, rows and transactions, and by every wait: a requested stop ends
  // the run at the next of those points, leaving every committed transaction consistent.
  std::stop_token stop;
  // Export polling: waits grow from the initial interval to the cap (with jitter) until the
  // job is ready, fails, or has been pending for export_timeout.
  std::chrono::milliseconds export_poll_initial{1000};
  std::chrono::milliseconds export_poll_max{30000};
  std::chrono::milliseconds export_timeout{std::chrono::hours(2)};
  int list_page_size = 1000;       // /v3/marketing/lists allows 1..1000
  int singlesend_page_size = 100;  // larger values have been answered with 400 (tap-sendgrid)
  int legacy_campaign_page_size = 100;
  int legacy_recipient_page_size = 1000;  // /v3/contactdb/recipients allows 1..1000
  // Legacy recipients end with a 404; empty pages may come before it. This many empty pages
  // in a row without the 404 is taken for a server that never ends the list.
  int max_empty_legacy_pages = 100;
  std::int64_t max_pages = 100000;  // per collection: a guard against endless paging
  std::function<void(const progress&)> on_progress;  // may be empty
  // Told about every collection's run as it ends (counters for /metrics); may be null.
  // Must outlive the run.
  metrics::sync_sink* metrics = nullptr;
  std::function<std::chrono::system_clock::time_point()> now = [] {
    return std::chrono::system_clock::now();
  };

  // The account collections (issue 16; sync/collections/account_sync.hpp).
  // Read GET /v3/scopes once per run and skip, with the scope named, each collection the key
  // may not read (without it, a 403 from the collection's endpoint skips it the same way).
  bool check_scopes = true;
  // Suppressions: incremental on `created` every run (re-reading `suppression_overlap` before
  // the newest `created` seen), and a full read that tombstones what SendGrid no longer lists
  // once the last complete one is older than this.
  std::chrono::seconds suppression_reconcile_interval{24 * 3600};
  std::chrono::seconds suppression_overlap{3600};
  int suppression_page_size = 500;      // /v3/suppression/* allow 1..500
  int template_page_size = 200;         // /v3/templates allows 1..200
  int verified_sender_page_size = 100;  // /v3/verified_senders (lastSeenID paging)
  int marketing_stats_page_size = 50;   // /v3/marketing/stats/* allow 1..50
  int category_page_size = 500;         // categories per /v3/categories/stats/sums page
  int stats_trailing_days = 3;          // recent days still change: re-read every run
  int stats_backfill_days = 365;        // first run: this far back
  int stats_chunk_days = 90;            // days per /v3/stats request
  // Messages (Email Activity API, opt-in): the first run reads this far back (SendGrid keeps
  // about 30 days); later runs re-read `messages_trailing` before the last window read.
  std::chrono::seconds messages_backfill{30LL * 24 * 3600};
  std::chrono::seconds messages_trailing{24 * 3600};
  // 6 requests per minute are allowed: at most one request per this interval.
  std::chrono::milliseconds messages_request_interval{10000};
  int messages_limit = 1000;  // per request (the API's maximum); a full answer splits the window
};

struct collection_result {
  store::collection collection = store::collection::lists;
  store::run_status status = store::run_status::failed;
  std::string source_api;  // marketing | legacy | "" when never known
  store::run_counts counts;
  std::string error;
  bool auth_rejected = false;  // 401/403: the source's run stopped here
  std::chrono::milliseconds duration{0};
};

struct source_result {
  std::string source;
  std::string run_id;
  std::vector<collection_result> collections;
  std::string fatal_error;  // the store could not be opened, the key was rejected, ...
  bool all_succeeded() const;
};

// Runs the collections of options.collections in sync order (lists, segments, campaigns,
// recipients). One failing collection does not stop the others; a rejected key (401, or 403
// on both APIs) stops the source: the collections after it are recorded as skipped. Blocking;
// call it from the scheduler's thread or the sync command.
source_result sync_source(sendgrid::api_session& session, store::object_store& store,
                          const sync_options& options);

// Everything a scheduler needs to run one source's sync on its own thread: opens the object
// store and the API client, runs, closes. Never throws: failures are in the result.
struct source_sync_request {
  config::source_config source;
  std::string api_key;
  // Opens the source's object store for this run (the daemon's store::backend); throws
  // store::object_store_error.
  std::function<std::unique_ptr<store::object_store>()> open_store;
  sync_options options;             // source_name and on_behalf_of are taken from `source`
  sendgrid::client_options client;  // api_base, key and on_behalf_of are taken from above
  sendgrid::retry_policy retry;
};
source_result run_source_sync(const source_sync_request& request);

// When the source last synced completely: the oldest of the collections' last successes, or
// nullopt when one of them never succeeded (the scheduler then syncs at once; a collection
// whose newest run was skipped, for a scope the key lacks, is left out). Tells
// `metrics` (may be null) each collection's last success. Throws store::object_store_error.
std::optional<std::chrono::system_clock::time_point> last_complete_success(
    store::object_store& store, std::string_view source,
    const std::vector<store::collection>& collections, metrics::sync_sink* metrics);

// Formats a time as ISO-8601 UTC with milliseconds (synced_at, sync_runs).
std::string iso8601(std::chrono::system_clock::time_point t);

}  // namespace sgs::sync
