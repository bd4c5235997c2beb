// A source's sync run: legacy detection, paging per endpoint, the contact export job, staging,
// merge and tombstones, and the sync_runs records.
//
// Per collection (states in sync_runs.status):
//   running --fetch complete--> merge --> tombstone --> succeeded
//   running --fetch failed----> merge (no tombstone) --> failed
//   running --stop requested--> (no merge) --> stopped
// Invariants:
//  1. Tombstones are written only after every page / export file of the collection was read
//     and staged, so a row is never marked deleted because a run ended early.
//  2. The first 403 from /v3/marketing/* before any marketing call succeeded means a Legacy
//     Marketing Campaigns account (or a key without marketing.read): the collection is retried
//     on the legacy endpoints, and their answer decides. Once an API answered, it is used for
//     the rest of the run.
//  3. A 401, or a 403 that no fallback explains, stops the source's run: every later request
//     would be refused the same way.
#include "sync/sync_source.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <ctime>
#include <mutex>
#include <optional>
#include <random>

#include "logging/log.hpp"
#include "logging/repeat_limiter.hpp"
#include "sendgrid/errors.hpp"
#include "sendgrid/paging.hpp"
#include "sync/collections/account_sync.hpp"
#include "sync/contact_csv.hpp"
#include "sync/csv_reader.hpp"
#include "sync/gunzip.hpp"
#include "sync/json_objects.hpp"
#include "text/iso8601.hpp"

namespace sgs::sync {

namespace {

using sendgrid::api_url;
using sendgrid::call_result;
using sendgrid::failure_kind;
using store::collection;

std::string_view endpoint_label(collection c, api_kind api) {
  const bool legacy = api == api_kind::legacy;
  switch (c) {
    case collection::lists:
      return legacy ? "/v3/contactdb/lists" : "/v3/marketing/lists";
    case collection::segments:
      return legacy ? "/v3/contactdb/segments" : "/v3/marketing/segments/2.0";
    case collection::campaigns:
      return legacy ? "/v3/campaigns" : "/v3/marketing/singlesends";
    case collection::recipients:
      return legacy ? "/v3/contactdb/recipients" : "/v3/marketing/contacts/exports";
    default:  // the account collections: sync/collections/
      break;
  }
  return "";
}

// How fetching a collection ended.
struct outcome {
  enum class kind { complete, failed, auth, stopped } status = kind::failed;
  std::string error;
  int http_status = 0;  // for auth
  std::string body;     // for auth: SendGrid's error body
  static outcome complete() { return {kind::complete, {}, 0, {}}; }
  static outcome failed(std::string e) { return {kind::failed, std::move(e), 0, {}}; }
  static outcome stopped() { return {kind::stopped, "stopped", 0, {}}; }
};

class source_run {
 public:
  source_run(sendgrid::api_session& session, store::object_store& store,
             const sync_options& options)
      : session_(session),
        store_(store),
        options_(options),
        base_(session.client().options().api_base) {}

  source_result run();

 private:
  collection_result run_collection(collection c);
  outcome fetch(collection c, api_kind api, store::run_counts& counts);
  outcome fetch_next_links(collection c, api_kind api, const std::string& first,
                           store::run_counts& counts);
  outcome fetch_single(collection c, api_kind api, const std::string& path,
                       store::run_counts& counts);
  outcome fetch_offsets(collection c, api_kind api, const std::string& path, int limit,
                        store::run_counts& counts);
  outcome fetch_until_404(collection c, api_kind api, const std::string& path, int page_size,
                          store::run_counts& counts);
  outcome fetch_export(store::run_counts& counts);
  outcome download_export_file(const std::string& url, std::size_t index, std::size_t total,
                               store::run_counts& counts);
  outcome from_failure(const call_result& r);
  bool stage_page(collection c, api_kind api, const call_result& r, store::run_counts& counts,
                  page& p);
  bool stopping() const { return options_.stop.stop_requested(); }
  void report_metrics(const collection_result& r, std::chrono::milliseconds rate_limit_waited,
                      std::chrono::system_clock::time_point finished) const;
  // A collection that does not run: recorded in sync_runs with `status` and why.
  collection_result not_run(collection c, store::run_status status, std::string why);
  void report(collection c, std::string_view state, const store::run_counts& counts) const {
    if (options_.on_progress)
      options_.on_progress({options_.source_name, c, state, counts.pages, counts.rows_seen});
  }

  sendgrid::api_session& session_;
  store::object_store& store_;
  const sync_options& options_;
  std::string base_;
  std::string run_id_;
  std::optional<api_kind> api_;  // decided by the first request that got an answer
  bool saw_success_ = false;     // in the current fetch: some request got a 2xx
  json_objects json_;
  logging::repeat_limiter skipped_warnings_{std::chrono::seconds(60)};
};

source_result source_run::run() {
  source_result out;
  out.source = options_.source_name;
  run_id_ = iso8601(options_.now());
  out.run_id = run_id_;
  // Several receivers may share one store (PostgreSQL): the first to take the source's sync
  // lock runs; the others record every collection as skipped and leave it to that one.
  bool locked = true;
  std::string lock_error;
  try {
    locked = store_.try_lock_sync();
  } catch (const store::object_store_error& e) {
    lock_error = e.what();
  }
  if (!locked || !lock_error.empty()) {
    const std::string why =
        locked ? "cannot take the sync lock: " + lock_error
               : "another receiver is syncing source '" + options_.source_name + "' now";
    if (!lock_error.empty()) out.fatal_error = why;
    for (collection c : sync_order()) {
      bool wanted = false;
      for (collection w : options_.collections) wanted = wanted || w == c;
      if (wanted) out.collections.push_back(not_run(c, store::run_status::skipped, why));
    }
    return out;
  }
  // The key's scopes, read once: a collection it may not read is skipped with the scope
  // named, before any request (issue 16). Unknown scopes skip nothing in advance.
  // Only runs that include an account collection ask (a run of the marketing four behaves
  // as it always did).
  std::optional<std::vector<std::string>> scopes;
  bool any_account = false;
  for (collection w : options_.collections)
    any_account = any_account || store::is_account_collection(w);
  if (options_.check_scopes && any_account && !stopping()) scopes = read_scopes(session_, base_);
  account_run_context account{session_, store_, options_, base_, run_id_};
  for (collection c : sync_order()) {
    bool wanted = false;
    for (collection w : options_.collections) wanted = wanted || w == c;
    if (!wanted) continue;
    if (out.fatal_error.empty() && !stopping() && scopes) {
      if (auto why = missing_scope(c, *scopes); !why.empty()) {
        out.collections.push_back(skip_collection(account, c, why));
        continue;
      }
    }
    if (out.fatal_error.empty() && !stopping() && store::is_account_collection(c)) {
      auto result = run_account_collection(account, c);
      if (result.auth_rejected) out.fatal_error = result.error;
      out.collections.push_back(std::move(result));
      continue;
    }
    if (!out.fatal_error.empty() || stopping()) {
      out.collections.push_back(not_run(
          c,
          stopping() && out.fatal_error.empty() ? store::run_status::stopped
                                                : store::run_status::skipped,
          out.fatal_error.empty() ? "stopped before it started" : "not run: " + out.fatal_error));
      continue;
    }
    auto result = run_collection(c);
    if (result.auth_rejected) out.fatal_error = result.error;
    out.collections.push_back(std::move(result));
  }
  return out;
}

collection_result source_run::not_run(collection c, store::run_status status, std::string why) {
  collection_result skipped;
  skipped.collection = c;
  skipped.status = status;
  skipped.error = std::move(why);
  try {
    const auto at = iso8601(options_.now());
    const auto row = store_.begin_run(run_id_, options_.source_name, c, at);
    store_.finish_run(row, skipped.status, {}, skipped.counts, at, skipped.error);
  } catch (const store::object_store_error& e) {
    skipped.error += "; " + std::string(e.what());
  }
  report_metrics(skipped, {}, options_.now());
  return skipped;
}

collection_result source_run::run_collection(collection c) {
  collection_result result;
  result.collection = c;
  const auto started = std::chrono::steady_clock::now();
  std::int64_t run_row = -1;
  store::run_counts counts;
  api_kind api = api_.value_or(api_kind::marketing);
  outcome o;
  session_.take_stats();
  try {
    run_row = store_.begin_run(run_id_, options_.source_name, c, iso8601(options_.now()));
    store_.begin_collection(c);
    report(c, "fetching", counts);
    saw_success_ = false;
    o = fetch(c, api, counts);
    if (o.status == outcome::kind::complete || saw_success_) api_ = api;
    if (o.status == outcome::kind::auth && o.http_status == 403 && !api_ &&
        api == api_kind::marketing) {
      logging::warn(
          "403 (access forbidden): treating the account as Legacy Marketing Campaigns and "
          "syncing from /v3/contactdb/* and /v3/campaigns",
          {{"source", options_.source_name}, {"endpoint", endpoint_label(c, api)}});
      const outcome marketing = o;
      store_.begin_collection(c);  // drop anything staged from the marketing attempt
      counts = {};
      api = api_kind::legacy;
      saw_success_ = false;
      o = fetch(c, api, counts);
      if (o.status == outcome::kind::auth) {
        o.error = sendgrid::auth_failure_message(
            options_.source_name, o.http_status, o.body.empty() ? marketing.body : o.body,
            std::string(collection_name(c)) + " (" +
                std::string(endpoint_label(c, api_kind::marketing)) + " and " +
                std::string(endpoint_label(c, api_kind::legacy)) + ")",
            "'" + std::string(sendgrid::marketing_permission) + "' (Marketing Campaigns) or '" +
                std::string(sendgrid::legacy_permission) + "' (Legacy Marketing Campaigns)",
            options_.on_behalf_of);
      } else if (o.status == outcome::kind::complete || saw_success_) {
        api_ = api;
        logging::info("legacy Marketing Campaigns account: using /v3/contactdb/* and /v3/campaigns",
                      {{"source", options_.source_name}});
      }
    } else if (o.status == outcome::kind::auth) {
      o.error = sendgrid::auth_failure_message(
          options_.source_name, o.http_status, o.body,
          std::string(collection_name(c)) + " (" + std::string(endpoint_label(c, api)) + ")",
          "'" +
              std::string(api == api_kind::legacy ? sendgrid::legacy_permission
                                                  : sendgrid::marketing_permission) +
              "'",
          options_.on_behalf_of);
    }

    // Merge what was received unless stopping (a stop must be prompt; the next run redoes it).
    auto keep_going = [this] { return !stopping(); };
    if (o.status != outcome::kind::stopped && !stopping()) {
      report(c, "merging", counts);
      const std::string now = iso8601(options_.now());
      counts.rows_upserted = store_.merge(api_kind_name(api), now, keep_going);
      if (o.status == outcome::kind::complete && !stopping()) {
        report(c, "tombstoning", counts);
        counts.rows_tombstoned = store_.tombstone(now, keep_going);
      }
      if (stopping() && o.status == outcome::kind::complete) o = outcome::stopped();
    }
    if (stopping() && o.status != outcome::kind::failed && o.status != outcome::kind::auth)
      o = outcome::stopped();
    store_.end_collection();
  } catch (const store::object_store_error& e) {
    o = outcome::failed(e.what());
    try {
      store_.end_collection();
    } catch (const store::object_store_error&) {
      // Already failing; the temp table goes with the connection.
    }
  }

  const auto stats = session_.take_stats();
  counts.http_retries += stats.http_retries;
  counts.rate_limit_waits += stats.rate_limit_waits;
  switch (o.status) {
    case outcome::kind::complete:
      result.status = store::run_status::succeeded;
      break;
    case outcome::kind::stopped:
      result.status = store::run_status::stopped;
      break;
    case outcome::kind::failed:
    case outcome::kind::auth:
      result.status = store::run_status::failed;
      break;
  }
  result.error = o.status == outcome::kind::complete ? "" : o.error;
  result.auth_rejected = o.status == outcome::kind::auth;
  result.counts = counts;
  result.source_api =
      (saw_success_ || o.status == outcome::kind::complete) ? std::string(api_kind_name(api)) : "";
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  if (run_row >= 0) {
    try {
      store_.finish_run(run_row, result.status, result.source_api, counts, iso8601(options_.now()),
                        result.error);
    } catch (const store::object_store_error& e) {
      result.status = store::run_status::failed;
      result.error += (result.error.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  report(c, run_status_name(result.status), counts);
  report_metrics(result, stats.rate_limit_waited, options_.now());
  // One line per collection run, with journald fields SOURCE=, COLLECTION=, STATUS=, ...
  logging::log(
      result.status == store::run_status::succeeded ? spdlog::level::info : spdlog::level::warn,
      "sync",
      {{"source", options_.source_name},
       {"collection", collection_name(c)},
       {"status", run_status_name(result.status)},
       {"api", result.source_api.empty() ? "-" : result.source_api},
       {"pages", counts.pages},
       {"rows", counts.rows_seen},
       {"upserted", counts.rows_upserted},
       {"tombstoned", counts.rows_tombstoned},
       {"retries", counts.http_retries},
       {"rate_limit_waits", counts.rate_limit_waits},
       {"ms", result.duration.count()},
       {"error", result.error}});
  return result;
}

void source_run::report_metrics(const collection_result& r,
                                std::chrono::milliseconds rate_limit_waited,
                                std::chrono::system_clock::time_point finished) const {
  if (options_.metrics == nullptr) return;
  metrics::sync_run_report m;
  m.source = options_.source_name;
  m.collection = std::string(collection_name(r.collection));
  m.result = std::string(run_status_name(r.status));
  m.rows_upserted = r.counts.rows_upserted;
  m.rows_tombstoned = r.counts.rows_tombstoned;
  m.http_retries = r.counts.http_retries;
  m.rate_limit_waits = r.counts.rate_limit_waits;
  m.rate_limit_wait_seconds = std::chrono::duration<double>(rate_limit_waited).count();
  m.finished_unix =
      std::chrono::duration_cast<std::chrono::seconds>(finished.time_since_epoch()).count();
  m.finished_at = iso8601(finished);
  options_.metrics->run_finished(m);
}

outcome source_run::fetch(collection c, api_kind api, store::run_counts& counts) {
  const bool legacy = api == api_kind::legacy;
  switch (c) {
    case collection::lists:
      if (legacy) return fetch_single(c, api, "/v3/contactdb/lists", counts);
      return fetch_next_links(
          c, api, "/v3/marketing/lists?page_size=" + std::to_string(options_.list_page_size),
          counts);
    case collection::segments:
      if (legacy) return fetch_single(c, api, "/v3/contactdb/segments", counts);
      // Documented as one page, but its answer carries _metadata: follow `next` when present.
      return fetch_next_links(c, api, "/v3/marketing/segments/2.0", counts);
    case collection::campaigns:
      if (legacy)
        return fetch_offsets(c, api, "/v3/campaigns", options_.legacy_campaign_page_size, counts);
      return fetch_next_links(
          c, api,
          "/v3/marketing/singlesends?page_size=" + std::to_string(options_.singlesend_page_size),
          counts);
    case collection::recipients:
      if (legacy) {
        return fetch_until_404(c, api, "/v3/contactdb/recipients",
                               options_.legacy_recipient_page_size, counts);
      }
      return fetch_export(counts);
    default:  // the account collections: sync/collections/
      break;
  }
  return outcome::failed("unknown collection");
}

outcome source_run::from_failure(const call_result& r) {
  if (r.kind == failure_kind::aborted || stopping()) return outcome::stopped();
  if (r.kind == failure_kind::auth) {
    outcome o;
    o.status = outcome::kind::auth;
    o.http_status = r.res.status;
    o.body = r.res.body;
    o.error = r.error;
    return o;
  }
  return outcome::failed(r.error);
}

bool source_run::stage_page(collection c, api_kind api, const call_result& r,
                            store::run_counts& counts, page& p) {
  store::object_row row(c);
  p = json_.parse_page(c, api, r.res.body, row,
                       [this](const store::object_row& filled) { store_.stage(filled); });
  if (!p.ok) return false;
  ++counts.pages;
  counts.rows_seen += p.items;
  if (p.skipped > 0) {
    // Once per minute and collection: a server sending id-less objects on every page must not
    // flood the log (issue 13 counted 1 264 of these lines in 60 s).
    const auto v = skipped_warnings_.allow(collection_name(c));
    if (v.log) {
      logging::warn("objects without an id were skipped" + logging::repeat_limiter::suffix(v),
                    {{"source", options_.source_name},
                     {"collection", collection_name(c)},
                     {"skipped", p.skipped}});
    }
  }
  report(c, "fetching", counts);
  return true;
}

outcome source_run::fetch_next_links(collection c, api_kind api, const std::string& first,
                                     store::run_counts& counts) {
  std::string url = api_url(base_, first);
  while (true) {
    if (stopping()) return outcome::stopped();
    const auto r = session_.get(url);
    if (!r.ok()) return from_failure(r);
    saw_success_ = true;
    page p;
    if (!stage_page(c, api, r, counts, p))
      return outcome::failed("GET " + std::string(endpoint_label(c, api)) + ": " + p.error);
    if (p.next.empty()) return outcome::complete();
    auto next = sendgrid::next_page_url(base_, p.next);
    if (!next)
      return outcome::failed("GET " + std::string(endpoint_label(c, api)) +
                             ": unusable _metadata.next link \"" + p.next +
                             "\" (neither a URL nor a path)");
    if (*next == url) {
      return outcome::failed(
          "GET " + std::string(endpoint_label(c, api)) +
          ": _metadata.next points at the same page again (stopped to avoid a loop)");
    }
    if (counts.pages >= options_.max_pages) {
      return outcome::failed("GET " + std::string(endpoint_label(c, api)) + ": more than " +
                             std::to_string(options_.max_pages) + " pages");
    }
    url = std::move(*next);
  }
}

outcome source_run::fetch_single(collection c, api_kind api, const std::string& path,
                                 store::run_counts& counts) {
  if (stopping()) return outcome::stopped();
  const auto r = session_.get(api_url(base_, path));
  if (!r.ok()) return from_failure(r);
  saw_success_ = true;
  page p;
  if (!stage_page(c, api, r, counts, p)) return outcome::failed("GET " + path + ": " + p.error);
  return outcome::complete();
}

outcome source_run::fetch_offsets(collection c, api_kind api, const std::string& path, int limit,
                                  store::run_counts& counts) {
  std::int64_t offset = 0;
  while (true) {
    if (stopping()) return outcome::stopped();
    const auto r = session_.get(api_url(
        base_, path + "?limit=" + std::to_string(limit) + "&offset=" + std::to_string(offset)));
    if (!r.ok()) return from_failure(r);
    saw_success_ = true;
    page p;
    if (!stage_page(c, api, r, counts, p)) return outcome::failed("GET " + path + ": " + p.error);
    const std::int64_t got = p.items + p.skipped;
    // limit/offset endpoints end with a short page.
    if (got < limit) return outcome::complete();
    if (counts.pages >= options_.max_pages)
      return outcome::failed("GET " + path + ": too many pages");
    offset += got;
  }
}

// Pages until the 404 that ends the list. A page that adds nothing new ends the paging too,
// as a failure (so nothing is tombstoned): one whose objects all lack an id, or one that is
// the previous non-empty page again (a server ignoring `page`). Either would otherwise be
// read for max_pages pages, storing nothing. Empty pages are not that: deletions leave holes
// before the end (bounded by max_empty_legacy_pages in a row).
outcome source_run::fetch_until_404(collection c, api_kind api, const std::string& path,
                                    int page_size, store::run_counts& counts) {
  int empty_in_a_row = 0;
  std::optional<std::string> previous_page;  // the body of the last non-empty page
  for (std::int64_t number = 1;; ++number) {
    if (stopping()) return outcome::stopped();
    const auto r = session_.get(api_url(base_, path + "?page=" + std::to_string(number) +
                                                   "&page_size=" + std::to_string(page_size)));
    // The documented end of the list (an empty page is not: deletions leave holes).
    if (r.res.transport == sendgrid::transport_status::ok && r.res.status == 404)
      return outcome::complete();
    if (!r.ok()) return from_failure(r);
    saw_success_ = true;
    const std::string where = "GET " + path + "?page=" + std::to_string(number);
    if (previous_page && *previous_page == r.res.body) {
      return outcome::failed(where + ": the same objects as page " + std::to_string(number - 1) +
                             ": the API repeats a page instead of ending the list with a 404; "
                             "stopped, nothing is marked deleted");
    }
    page p;
    if (!stage_page(c, api, r, counts, p)) return outcome::failed("GET " + path + ": " + p.error);
    if (p.items + p.skipped > 0) {
      if (p.items == 0) {
        return outcome::failed(where + ": added nothing new (" + std::to_string(p.skipped) +
                               " object(s), none with an id): stopped instead of paging on "
                               "until a 404, nothing is marked deleted");
      }
      previous_page = r.res.body;
    }
    if (p.items + p.skipped == 0) {
      if (++empty_in_a_row >= options_.max_empty_legacy_pages) {
        return outcome::failed("GET " + path + ": " + std::to_string(empty_in_a_row) +
                               " empty pages in a row without the 404 that ends the list");
      }
    } else {
      empty_in_a_row = 0;
    }
    if (counts.pages >= options_.max_pages)
      return outcome::failed("GET " + path + ": too many pages");
  }
}

outcome source_run::fetch_export(store::run_counts& counts) {
  const collection c = collection::recipients;
  const std::string path = "/v3/marketing/contacts/exports";
  report(c, "export: starting", counts);
  auto r = session_.post_json(api_url(base_, path), R"({"file_type":"csv"})");
  if (!r.ok()) return from_failure(r);
  saw_success_ = true;
  auto job = json_.parse_export(r.res.body);
  if (!job.ok || job.id.empty()) {
    return outcome::failed("POST " + path + ": " +
                           (job.ok ? std::string("the answer has no job id") : job.error));
  }
  const auto started = options_.now();
  for (int poll = 1;; ++poll) {
    report(c, "export pending", counts);
    const auto wait = sendgrid::backoff_delay(poll, options_.export_poll_initial,
                                              options_.export_poll_max, session_.random01());
    if (!session_.sleep(wait)) return outcome::stopped();
    r = session_.get(api_url(base_, path + "/" + sendgrid::path_segment(job.id)));
    if (!r.ok()) return from_failure(r);
    job = json_.parse_export(r.res.body);
    if (!job.ok) return outcome::failed("GET " + path + "/{id}: " + job.error);
    if (job.status == "ready") break;
    if (job.status == "failure" || job.status == "failed") {
      return outcome::failed("the contact export job " + job.id + " failed" +
                             (job.message.empty() ? "" : ": " + job.message));
    }
    if (options_.now() - started > options_.export_timeout) {
      return outcome::failed(
          "the contact export job " + job.id + " is still '" + job.status + "' after " +
          std::to_string(
              std::chrono::duration_cast<std::chrono::minutes>(options_.export_timeout).count()) +
          " minutes");
    }
  }
  // A ready job without files would make every contact look deleted: accept it only when
  // SendGrid says the account has no contacts at all.
  if (job.urls.empty()) {
    if (job.contact_count && *job.contact_count == 0) return outcome::complete();
    return outcome::failed("the contact export job " + job.id + " is ready but lists no files");
  }
  logging::info("contact export ready",
                {{"source", options_.source_name}, {"export", job.id}, {"files", job.urls.size()}});
  for (std::size_t i = 0; i < job.urls.size(); ++i) {
    auto o = download_export_file(job.urls[i], i + 1, job.urls.size(), counts);
    if (o.status != outcome::kind::complete) return o;
    ++counts.pages;
  }
  return outcome::complete();
}

outcome source_run::download_export_file(const std::string& url, std::size_t index,
                                         std::size_t total, store::run_counts& counts) {
  const collection c = collection::recipients;
  const std::string label = "export file " + std::to_string(index) + "/" + std::to_string(total);
  const std::string state = "downloading " + label;
  report(c, state, counts);
  auto& policy = session_.policy();
  for (int attempt = 1;; ++attempt) {
    // Per attempt: fresh decoders. A retry happens only before any byte was received, so
    // no row is staged twice.
    gunzip_stream gz;
    csv_reader csv;
    contact_csv_mapper mapper;
    store::object_row row(c);
    enum class format { unknown, csv, ndjson } fmt = format::unknown;
    std::string line;  // NDJSON: the current line
    std::string error;
    std::int64_t bytes = 0;
    std::int64_t skipped = 0;

    auto stage = [&](const store::object_row& filled) {
      store_.stage(filled);
      if (++counts.rows_seen % 20000 == 0) report(c, state, counts);
    };
    auto on_record = [&](std::span<const std::string_view> fields) {
      if (!mapper.has_header()) return mapper.set_header(fields, error);
      if (mapper.map(fields, row)) {
        stage(row);
      } else {
        ++skipped;
      }
      return true;
    };
    auto on_line = [&](std::string_view text) {
      while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
      if (text.empty()) return true;
      bool has_id = false;
      if (!json_.parse_contact_line(text, row, has_id, error)) return false;
      if (has_id) {
        stage(row);
      } else {
        ++skipped;
      }
      return true;
    };
    auto on_text = [&](std::string_view text) -> bool {
      if (fmt == format::unknown) {
        const auto first = text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
        if (first == std::string_view::npos) return true;
        fmt = text[first] == '{' ? format::ndjson : format::csv;
      }
      if (fmt == format::csv) {
        if (!csv.feed(text, on_record)) {
          if (error.empty()) error = csv.error();
          return false;
        }
        return true;
      }
      while (!text.empty()) {
        const auto nl = text.find('\n');
        line.append(text.substr(0, nl));
        if (line.size() > 16 * 1024 * 1024) {
          error = "an NDJSON line is longer than 16 MiB";
          return false;
        }
        if (nl == std::string_view::npos) break;
        if (!on_line(line)) return false;
        line.clear();
        text.remove_prefix(nl + 1);
      }
      return true;
    };
    auto sink = [&](std::string_view chunk) -> bool {
      bytes += static_cast<std::int64_t>(chunk.size());
      try {
        if (!gz.feed(chunk, on_text)) {
          if (error.empty()) error = gz.error();
          return false;
        }
      } catch (const store::object_store_error& e) {
        error = e.what();
        return false;
      }
      return !stopping();
    };

    const auto res = session_.client().download(url, sink);
    if (!error.empty()) return outcome::failed(label + ": " + error);
    if (stopping()) return outcome::stopped();
    const auto kind = sendgrid::classify(res.transport, res.status);
    if (kind == failure_kind::none) {
      try {
        bool ok = gz.finish(on_text);
        if (ok && error.empty()) {
          if (fmt == format::csv) {
            ok = csv.finish(on_record);
            if (!ok && error.empty()) error = csv.error();
          } else if (fmt == format::ndjson && !line.empty()) {
            ok = on_line(line);
          }
        } else if (error.empty()) {
          error = gz.error();
        }
        if (!error.empty() || !ok)
          return outcome::failed(label + ": " + (error.empty() ? "cannot parse" : error));
      } catch (const store::object_store_error& e) {
        return outcome::failed(label + ": " + e.what());
      }
      if (fmt == format::csv && !mapper.has_header()) {
        // An empty file is an export of nothing; a file without a header is not.
        if (csv.records() > 0) return outcome::failed(label + ": no header row");
      }
      if (skipped > 0) {
        logging::warn("contacts without CONTACT_ID were skipped",
                      {{"source", options_.source_name}, {"file", label}, {"skipped", skipped}});
      }
      return outcome::complete();
    }
    const std::string what = res.transport == sendgrid::transport_status::ok
                                 ? sendgrid::http_failure_message("GET", url, res.status, res.body)
                                 : sendgrid::transport_failure_message("GET", url, res);
    const bool retryable = kind == failure_kind::transient || kind == failure_kind::rate_limited;
    if (!retryable || bytes > 0 || attempt >= policy.max_attempts) {
      return outcome::failed("download of " + label + " failed: " + what);
    }
    ++counts.http_retries;
    const auto wait = sendgrid::backoff_delay(attempt, policy.backoff_base, policy.backoff_cap,
                                              session_.random01());
    session_.notice(what + ": retrying");
    if (!session_.sleep(wait)) return outcome::stopped();
  }
}

}  // namespace

bool source_result::all_succeeded() const {
  if (!fatal_error.empty()) return false;
  // A collection skipped for a missing scope does not fail the run (issue 16); one skipped
  // because the key was rejected comes with fatal_error.
  for (const auto& c : collections) {
    if (c.status != store::run_status::succeeded && c.status != store::run_status::skipped)
      return false;
  }
  return true;
}

std::string iso8601(std::chrono::system_clock::time_point t) { return text::iso8601_utc(t); }

source_result sync_source(sendgrid::api_session& session, store::object_store& store,
                          const sync_options& options) {
  session.client().set_abort_check([stop = options.stop] { return stop.stop_requested(); });
  source_run run(session, store, options);
  auto out = run.run();
  session.client().set_abort_check({});
  return out;
}

std::optional<std::chrono::system_clock::time_point> last_complete_success(
    store::object_store& store, std::string_view source,
    const std::vector<store::collection>& collections, metrics::sync_sink* metrics) {
  std::optional<std::chrono::system_clock::time_point> oldest;
  bool every_collection = true;
  for (auto c : collections) {
    const std::string at = store.last_success(c);
    const auto t = at.empty() ? std::nullopt : text::parse_iso8601_utc(at);
    if (!t) {
      // A collection skipped for a scope the key lacks never succeeds: it does not make
      // every start sync at once.
      if (store.last_status(c) == store::run_status_name(store::run_status::skipped)) continue;
      every_collection = false;
      continue;
    }
    // /metrics and /healthz know the last success from before this start.
    if (metrics != nullptr) {
      metrics->last_success_known(
          source, store::collection_name(c),
          std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count(), at);
    }
    if (!oldest || *t < *oldest) oldest = *t;
  }
  return every_collection ? oldest : std::nullopt;
}

source_result run_source_sync(const source_sync_request& request) {
  sync_options options = request.options;
  options.source_name = request.source.name;
  options.on_behalf_of = request.source.on_behalf_of;
  source_result failed;
  failed.source = request.source.name;
  try {
    auto store = request.open_store();
    sendgrid::client_options co = request.client;
    co.api_base = request.source.api_base;
    co.api_key = request.api_key;
    co.on_behalf_of = request.source.on_behalf_of;
    sendgrid::api_client client(co);
    auto env = sendgrid::real_session_env(options.stop);
    // Retries and rate-limit waits can come by the hundred on a bad day: one line per kind
    // of wait and source per minute, with the count of those not logged.
    env.notice = [name = request.source.name](std::string_view text) {
      static logging::repeat_limiter limiter(std::chrono::seconds(60));
      // "rate limited on /v3/x: waiting 7.0s", "timed out on GET /v3/x: ...: retrying in 2s":
      // the part before the last ": " says what happened and where.
      const auto cut = text.rfind(": ");
      const auto what = text.substr(0, cut);
      const auto v = limiter.allow(name + "\n" + std::string(what));
      if (!v.log) return;
      logging::info(std::string(text) + logging::repeat_limiter::suffix(v), {{"source", name}});
    };
    sendgrid::api_session session(client, request.retry, std::move(env));
    return sync_source(session, *store, options);
  } catch (const store::object_store_error& e) {
    failed.fatal_error = e.what();
  } catch (const std::exception& e) {
    failed.fatal_error =
        std::string("sync of source '") + request.source.name + "' failed: " + e.what();
  }
  // Nothing ran: each requested collection counts as a failed run.
  if (options.metrics != nullptr) {
    const auto now = options.now();
    for (auto c : options.collections) {
      metrics::sync_run_report m;
      m.source = request.source.name;
      m.collection = std::string(store::collection_name(c));
      m.result = std::string(store::run_status_name(store::run_status::failed));
      m.finished_unix =
          std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
      m.finished_at = iso8601(now);
      options.metrics->run_finished(m);
    }
  }
  return failed;
}

}  // namespace sgs::sync
