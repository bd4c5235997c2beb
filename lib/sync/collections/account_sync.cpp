// One account collection's run (issue 16): the endpoint's paging, the JSON -> row mapping of
// store/account_tables.hpp, merge, tombstones and cursors.
//
// How each collection is read, and when it may tombstone (invariant: only after a read that
// saw the whole collection, as SPEC §7):
//  * suppressions (bounces, blocks, spam_reports, invalid_emails, global_unsubscribes):
//      incremental --every run--> start_time = newest `created` seen - overlap; upsert only
//      reconcile   --when the last complete reconcile is older than the interval--> no time
//                  filter, every page; then tombstone what was not seen; reconciled_at = now
//    A removed suppression is therefore tombstoned at the next reconcile (default: within a
//    day); one that is added again comes back with a new `created` and is revived at once.
//  * unsubscribe_groups, group_suppressions, templates, template_versions, senders,
//    verified_senders, field_definitions: full read every run, then tombstone.
//  * stats_daily, category_stats_daily, and the days of singlesend_stats / automation_stats:
//    the trailing window (and the first run's backfill), upserted by (key, date); days are
//    history, never tombstoned. The marketing stats' totals are read in full every run, also
//    without tombstones (they describe sends that happened).
//  * messages: time windows of the Email Activity API that are split until each answers with
//    fewer rows than the limit; never tombstoned.
// Cursors (sync_state) are written after the rows they describe were merged: a crash between
// the two re-reads a window, which the upsert makes harmless.
#include "sync/collections/account_sync.hpp"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

#include "logging/log.hpp"
#include "sendgrid/errors.hpp"
#include "sendgrid/paging.hpp"
#include "sync/json_cells.hpp"
#include "sync/json_text.hpp"

namespace sgs::sync {

namespace {

using sendgrid::api_url;
using sendgrid::call_result;
using sendgrid::failure_kind;
using simdjson::dom::element;
using simdjson::dom::element_type;
using store::collection;
using store::column_source;
using store::object_row;

constexpr long long seconds_per_day = 86400;

std::optional<element> field(element obj, std::string_view key) {
  if (!obj.is_object()) return std::nullopt;
  element e;
  if (obj.at_key(key).get(e) != simdjson::SUCCESS) return std::nullopt;
  return e;
}

// "a.b": key b of object a.
std::optional<element> path(element obj, std::string_view p) {
  const auto dot = p.find('.');
  if (dot == std::string_view::npos) return field(obj, p);
  auto outer = field(obj, p.substr(0, dot));
  if (!outer) return std::nullopt;
  return field(*outer, p.substr(dot + 1));
}

void set_cell(object_row& row, int col, column_source src, std::optional<element> e) {
  if (!e || e->is_null()) return;
  switch (src) {
    case column_source::computed:
      return;
    case column_source::integer:
      set_int_cell(row, col, e);
      return;
    case column_source::sql_time: {
      std::string_view s;
      if (e->get_string().get(s) == simdjson::SUCCESS) {
        row.owned(col) = sql_time_to_iso(s);
        return;
      }
      row.owned(col) = simdjson::minify(*e);
      return;
    }
    case column_source::text:
      if (e->type() == element_type::STRING) {
        row.text(col, std::string_view(*e));
        return;
      }
      row.owned(col) = simdjson::minify(*e);
      return;
    case column_source::json:
      row.owned(col) = simdjson::minify(*e);
      return;
  }
}

// Fills every mapped column of `item` (columns from `item`, or `metrics` for the stats'
// metric columns) and raw; id and other computed columns are the caller's.
void fill(collection c, element item, object_row& row, std::optional<element> metrics = {}) {
  row.clear();
  const auto cols = store::account_columns(c);
  for (std::size_t i = 0; i < cols.size(); ++i) {
    const auto& col = cols[i];
    if (col.source == column_source::computed) continue;
    auto e = path(item, col.json);
    if (!e && metrics) e = field(*metrics, col.json);
    set_cell(row, static_cast<int>(i), col.source, e);
  }
  row.owned(static_cast<int>(cols.size()) - 1) = simdjson::minify(item);
}

int col(collection c, std::string_view name) { return store::account_column_index(c, name); }

// An id as text: strings as they are, integers in decimal. "" when absent.
std::string id_text(std::optional<element> e) {
  if (!e) return {};
  std::string_view s;
  std::int64_t i;
  std::uint64_t u;
  if (e->get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  if (e->get_int64().get(i) == simdjson::SUCCESS) return std::to_string(i);
  if (e->get_uint64().get(u) == simdjson::SUCCESS) return std::to_string(u);
  return {};
}

// The array under `key` of an answer object, or the answer itself when `key` is empty.
bool array_at(element doc, std::string_view key, simdjson::dom::array& items) {
  if (key.empty()) return doc.get_array().get(items) == simdjson::SUCCESS;
  const auto e = field(doc, key);
  return e && e->get_array().get(items) == simdjson::SUCCESS;
}

std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string suppression_path(collection c) {
  switch (c) {
    case collection::bounces:
      return "/v3/suppression/bounces";
    case collection::blocks:
      return "/v3/suppression/blocks";
    case collection::spam_reports:
      return "/v3/suppression/spam_reports";
    case collection::invalid_emails:
      return "/v3/suppression/invalid_emails";
    case collection::global_unsubscribes:
      return "/v3/suppression/unsubscribes";
    default:
      return {};
  }
}

// How a fetch ended.
struct fetched {
  enum class kind { complete, failed, forbidden, unauthorized, stopped } status = kind::complete;
  std::string error;
  int http_status = 0;
  std::string body;
  bool tombstone = false;  // complete and the read saw the whole collection
  // sync_state entries to write once the rows are merged.
  std::vector<std::pair<std::string, std::string>> state;
};

class account_run {
 public:
  account_run(account_run_context& ctx, collection c)
      : ctx_(ctx), c_(c), row_(c), name_(store::collection_name(c)) {}

  collection_result run();

 private:
  bool stopping() const { return ctx_.options.stop.stop_requested(); }
  std::string url(const std::string& p) const { return api_url(ctx_.api_base, p); }
  fetched fetch();
  fetched from_failure(const call_result& r);
  // GET and parse; on failure fills `out` and returns false.
  bool get_json(const std::string& u, element& doc, fetched& out);
  // Marks `out` failed with `error`; returns false for `return failed(...)`.
  static bool failed(fetched& out, std::string error) {
    out.status = fetched::kind::failed;
    out.error = std::move(error);
    return false;
  }
  // Paging, one helper per style of SendGrid's. `page(doc)` stages one answer's items and
  // returns how many it had, or -1 after failed() when the answer has the wrong shape. Both
  // return false when the fetch failed (`out` says why), and fail past options.max_pages.
  using page_reader = std::function<std::int64_t(element doc)>;
  // One answer: GET `path` and the array under `key` of it ("" for a bare array).
  bool get_array(const std::string& path, std::string_view key, simdjson::dom::array& items,
                 fetched& out);
  // Stages every item of `items` that has an `id`, keyed by it; `complete(item)` may set more
  // cells before the row is staged. Returns the id of the last item staged, "" when none.
  std::string stage_with_ids(simdjson::dom::array items,
                             const std::function<void(element item)>& complete = {});
  // limit/offset: from offset 0 until a page holds fewer than `limit` items.
  bool page_by_offset(const std::function<std::string(std::int64_t offset)>& url_at, int limit,
                      std::string_view what, const page_reader& page, fetched& out);
  // _metadata.next: `first`, then each next link (sendgrid::next_page_url keeps it on
  // api_base) until an answer has none.
  bool page_by_next_link(std::string first, std::string_view what, const page_reader& page,
                         fetched& out);
  void stage(const object_row& r) {
    ctx_.store.stage(r);
    ++counts_.rows_seen;
  }
  void progress(std::string_view state) {
    if (ctx_.options.on_progress)
      ctx_.options.on_progress(
          {ctx_.options.source_name, c_, state, counts_.pages, counts_.rows_seen});
  }
  fetched fetch_suppressions();
  fetched fetch_groups();
  fetched fetch_group_members();
  fetched fetch_templates(bool versions);
  fetched fetch_senders();
  fetched fetch_verified_senders();
  fetched fetch_field_definitions();
  fetched fetch_stats_daily();
  fetched fetch_category_stats();
  fetched fetch_marketing_stats(const std::string& list_path);
  // Stages one result of /v3/marketing/stats/*: a total (aggregation "total") or a day.
  void stage_marketing_stat(element item, const std::string& id);
  fetched fetch_messages();
  // Stats: the first day to read ("through" cursor minus the trailing window, or the backfill).
  long long stats_start_day(long long today, const std::string& through) const;

  account_run_context& ctx_;
  collection c_;
  object_row row_;
  std::string name_;
  store::run_counts counts_;
  simdjson::dom::parser parser_;
  std::string source_api_ = "v3";
};

fetched account_run::from_failure(const call_result& r) {
  fetched f;
  if (r.kind == failure_kind::aborted || stopping()) {
    f.status = fetched::kind::stopped;
    f.error = "stopped";
    return f;
  }
  if (r.kind == failure_kind::auth) {
    f.status = r.res.status == 401 ? fetched::kind::unauthorized : fetched::kind::forbidden;
    f.http_status = r.res.status;
    f.body = r.res.body;
    f.error = r.error;
    return f;
  }
  f.status = fetched::kind::failed;
  f.error = r.error;
  return f;
}

bool account_run::get_json(const std::string& u, element& doc, fetched& out) {
  if (stopping()) {
    out.status = fetched::kind::stopped;
    out.error = "stopped";
    return false;
  }
  const auto r = ctx_.session.get(u);
  if (!r.ok()) {
    out = from_failure(r);
    return false;
  }
  ++counts_.pages;
  if (parser_.parse(r.res.body).get(doc) != simdjson::SUCCESS) {
    out.status = fetched::kind::failed;
    const auto q = u.find('?');
    const auto p = u.find("/v3/");
    out.error = "GET " +
                u.substr(p == std::string::npos ? 0 : p,
                         q == std::string::npos ? q : q - (p == std::string::npos ? 0 : p)) +
                ": the answer is not JSON";
    return false;
  }
  return true;
}

bool account_run::get_array(const std::string& path, std::string_view key,
                            simdjson::dom::array& items, fetched& out) {
  element doc;
  if (!get_json(url(path), doc, out)) return false;
  if (array_at(doc, key, items)) return true;
  const auto q = path.find('?');
  return failed(out, "GET " + path.substr(0, q) +
                         (key.empty() ? std::string(": the answer is not a JSON array")
                                      : ": the answer has no " + std::string(key) + " array"));
}

std::string account_run::stage_with_ids(simdjson::dom::array items,
                                        const std::function<void(element item)>& complete) {
  std::string last;
  for (element item : items) {
    auto id = id_text(field(item, "id"));
    if (id.empty()) continue;
    fill(c_, item, row_);
    row_.owned(0) = id;
    if (complete) complete(item);
    stage(row_);
    last = std::move(id);
  }
  return last;
}

bool account_run::page_by_offset(const std::function<std::string(std::int64_t offset)>& url_at,
                                 int limit, std::string_view what, const page_reader& page,
                                 fetched& out) {
  for (std::int64_t offset = 0;;) {
    element doc;
    if (!get_json(url(url_at(offset)), doc, out)) return false;
    const std::int64_t got = page(doc);
    if (got < 0) return false;
    if (got < limit) return true;
    if (counts_.pages >= ctx_.options.max_pages)
      return failed(out, "GET " + std::string(what) + ": too many pages");
    offset += got;
    progress("fetching");
  }
}

bool account_run::page_by_next_link(std::string u, std::string_view what, const page_reader& page,
                                    fetched& out) {
  while (true) {
    element doc;
    if (!get_json(u, doc, out)) return false;
    if (page(doc) < 0) return false;
    const std::string next = metadata_next(doc);
    if (next.empty()) return true;
    auto nu = sendgrid::next_page_url(ctx_.api_base, next);
    if (!nu || *nu == u || counts_.pages >= ctx_.options.max_pages) {
      return failed(out, "GET " + std::string(what) +
                             ": unusable or repeated _metadata.next link \"" + next + "\"");
    }
    u = std::move(*nu);
    progress("fetching");
  }
}

fetched account_run::fetch() {
  switch (c_) {
    case collection::bounces:
    case collection::blocks:
    case collection::spam_reports:
    case collection::invalid_emails:
    case collection::global_unsubscribes:
      return fetch_suppressions();
    case collection::unsubscribe_groups:
      return fetch_groups();
    case collection::group_suppressions:
      return fetch_group_members();
    case collection::templates:
      return fetch_templates(false);
    case collection::template_versions:
      return fetch_templates(true);
    case collection::senders:
      source_api_ = "marketing";
      return fetch_senders();
    case collection::verified_senders:
      return fetch_verified_senders();
    case collection::field_definitions:
      source_api_ = "marketing";
      return fetch_field_definitions();
    case collection::stats_daily:
      return fetch_stats_daily();
    case collection::category_stats_daily:
      return fetch_category_stats();
    case collection::singlesend_stats:
      source_api_ = "marketing";
      return fetch_marketing_stats("/v3/marketing/stats/singlesends");
    case collection::automation_stats:
      source_api_ = "marketing";
      return fetch_marketing_stats("/v3/marketing/stats/automations");
    case collection::messages:
      return fetch_messages();
    default:
      break;
  }
  fetched f;
  f.status = fetched::kind::failed;
  f.error = "not an account collection";
  return f;
}

// Suppression lists: a bare JSON array per page, limit/offset, `created` as the time filter.
fetched account_run::fetch_suppressions() {
  fetched out;
  auto& store = ctx_.store;
  const auto now = unix_seconds(ctx_.options.now());
  const std::string cursor_key = name_ + ".created_cursor";
  const std::string reconciled_key = name_ + ".reconciled_at";
  const std::string cursor_text = store.state(cursor_key);
  const std::string reconciled_text = store.state(reconciled_key);
  const std::int64_t cursor = cursor_text.empty() ? -1 : std::stoll(cursor_text);
  const std::int64_t reconciled = reconciled_text.empty() ? -1 : std::stoll(reconciled_text);
  const bool full = cursor < 0 || reconciled < 0 ||
                    now - reconciled >= ctx_.options.suppression_reconcile_interval.count();
  std::string filter;
  if (!full) {
    const auto start = std::max<std::int64_t>(0, cursor - ctx_.options.suppression_overlap.count());
    filter = "&start_time=" + std::to_string(start) + "&end_time=" + std::to_string(now);
  }
  logging::log(spdlog::level::debug, "sync: suppressions read",
               {{"source", ctx_.options.source_name},
                {"collection", name_},
                {"read", full ? "full (reconcile)" : "incremental"}});
  const int limit = ctx_.options.suppression_page_size;
  std::int64_t newest = cursor;
  const int id_col = 0;
  const std::string path = suppression_path(c_);
  const auto url_at = [&](std::int64_t offset) {
    return path + "?limit=" + std::to_string(limit) + "&offset=" + std::to_string(offset) + filter;
  };
  const auto page = [&](element doc) -> std::int64_t {
    simdjson::dom::array items;
    if (!array_at(doc, "", items)) {
      failed(out, "GET " + path + ": the answer is not a JSON array");
      return -1;
    }
    std::int64_t got = 0;
    for (element item : items) {
      ++got;
      fill(c_, item, row_);
      const auto email = row_.text_at(col(c_, "email"));
      if (email.empty()) continue;
      // SendGrid keeps addresses lower-case; the key is the address as listed.
      row_.text(id_col, email);
      if (row_.at(col(c_, "created")).t == object_row::cell::type::integer)
        newest = std::max(newest, row_.at(col(c_, "created")).i);
      stage(row_);
    }
    return got;
  };
  if (!page_by_offset(url_at, limit, path, page, out)) return out;
  out.tombstone = full;
  if (newest >= 0)
    out.state.emplace_back(cursor_key, std::to_string(newest));
  else if (full)
    out.state.emplace_back(cursor_key, "0");
  if (full) out.state.emplace_back(reconciled_key, std::to_string(now));
  return out;
}

fetched account_run::fetch_groups() {
  fetched out;
  simdjson::dom::array items;
  if (!get_array("/v3/asm/groups", "", items, out)) return out;
  stage_with_ids(items);
  out.tombstone = true;
  return out;
}

// Members per group: /v3/asm/groups/{id}/suppressions answers a bare array of addresses.
fetched account_run::fetch_group_members() {
  fetched out;
  std::vector<std::string> groups;
  {
    simdjson::dom::array items;
    if (!get_array("/v3/asm/groups", "", items, out)) return out;
    for (element item : items) {
      auto id = id_text(field(item, "id"));
      if (!id.empty()) groups.push_back(std::move(id));
    }
  }
  const int group_col = col(c_, "group_id");
  const int email_col = col(c_, "email");
  const int raw_col = static_cast<int>(store::account_columns(c_).size()) - 1;
  for (const auto& g : groups) {
    simdjson::dom::array items;
    if (!get_array("/v3/asm/groups/" + g + "/suppressions", "", items, out)) return out;
    for (element item : items) {
      std::string_view email;
      if (item.get_string().get(email) != simdjson::SUCCESS || email.empty()) continue;
      row_.clear();
      row_.owned(0) = g + ":" + std::string(email);
      row_.integer(group_col, std::stoll(g));
      row_.text(email_col, email);
      auto& raw = row_.owned(raw_col);
      raw = R"({"group_id":)" + g + R"(,"email":)";
      append_json_string(raw, email);
      raw += "}";
      stage(row_);
    }
    progress("fetching");
  }
  out.tombstone = true;
  return out;
}

// /v3/templates (both generations), page_size/page_token through _metadata.next. Versions
// come inside each template of the listing.
fetched account_run::fetch_templates(bool versions) {
  fetched out;
  const collection vc = collection::template_versions;
  const auto page = [&](element doc) -> std::int64_t {
    simdjson::dom::array items;
    if (!array_at(doc, "result", items)) {
      failed(out, "GET /v3/templates: the answer has no result array");
      return -1;
    }
    for (element item : items) {
      const auto id = id_text(field(item, "id"));
      if (id.empty()) continue;
      simdjson::dom::array vs;
      const bool has_versions = array_at(item, "versions", vs);
      if (!versions) {
        fill(c_, item, row_);
        row_.owned(0) = id;
        row_.integer(col(c_, "version_count"),
                     has_versions ? static_cast<std::int64_t>(vs.size()) : 0);
        stage(row_);
        continue;
      }
      if (!has_versions) continue;
      for (element v : vs) {
        const auto vid = id_text(field(v, "id"));
        if (vid.empty()) continue;
        fill(vc, v, row_);
        row_.owned(0) = vid;
        if (row_.at(col(vc, "template_id")).t == object_row::cell::type::null)
          row_.owned(col(vc, "template_id")) = id;
        stage(row_);
      }
    }
    return static_cast<std::int64_t>(items.size());
  };
  if (!page_by_next_link(url("/v3/templates?generations=legacy,dynamic&page_size=" +
                             std::to_string(ctx_.options.template_page_size)),
                         "/v3/templates", page, out))
    return out;
  out.tombstone = true;
  return out;
}

fetched account_run::fetch_senders() {
  fetched out;
  element doc;
  if (!get_json(url("/v3/marketing/senders"), doc, out)) return out;
  simdjson::dom::array items;
  // Some answers wrap the array: {"results": [...]}.
  if (!array_at(doc, "", items) && !array_at(doc, "results", items)) {
    failed(out, "GET /v3/marketing/senders: the answer is not a JSON array");
    return out;
  }
  stage_with_ids(items);
  out.tombstone = true;
  return out;
}

// /v3/verified_senders: `limit` and `lastSeenID` (the id of the last item of the previous
// page); a short page is the last.
fetched account_run::fetch_verified_senders() {
  fetched out;
  const int limit = ctx_.options.verified_sender_page_size;
  std::string last_seen;
  while (true) {
    std::string p = "/v3/verified_senders?limit=" + std::to_string(limit);
    if (!last_seen.empty()) p += "&lastSeenID=" + url_encode(last_seen);
    simdjson::dom::array items;
    if (!get_array(p, "results", items, out)) return out;
    const std::string page_last = stage_with_ids(items);
    if (static_cast<std::int64_t>(items.size()) < limit || page_last.empty()) break;
    if (page_last == last_seen || counts_.pages >= ctx_.options.max_pages) {
      failed(out, "GET /v3/verified_senders: lastSeenID paging does not advance");
      return out;
    }
    last_seen = page_last;
  }
  out.tombstone = true;
  return out;
}

fetched account_run::fetch_field_definitions() {
  fetched out;
  element doc;
  if (!get_json(url("/v3/marketing/field_definitions"), doc, out)) return out;
  const int reserved_col = col(c_, "reserved");
  for (const auto& [key, reserved] :
       {std::pair<std::string_view, int>{"custom_fields", 0}, {"reserved_fields", 1}}) {
    simdjson::dom::array items;
    if (!array_at(doc, key, items)) continue;
    stage_with_ids(items, [&](element) {
      row_.integer(reserved_col, reserved);
      if (reserved == 0 && row_.at(col(c_, "read_only")).t == object_row::cell::type::null)
        row_.integer(col(c_, "read_only"), 0);
    });
  }
  out.tombstone = true;
  return out;
}

long long account_run::stats_start_day(long long today, const std::string& through) const {
  const auto last = parse_civil_date(through);
  if (!last) return today - ctx_.options.stats_backfill_days;
  return std::min(*last, today) - std::max(0, ctx_.options.stats_trailing_days - 1);
}

// /v3/stats?aggregated_by=day in chunks of days: a bare array of {date, stats:[{metrics}]}.
fetched account_run::fetch_stats_daily() {
  fetched out;
  const long long today = unix_seconds(ctx_.options.now()) / seconds_per_day;
  const std::string key = name_ + ".through";
  long long day = stats_start_day(today, ctx_.store.state(key));
  const int date_col = col(c_, "date");
  while (day <= today) {
    const long long end = std::min(today, day + ctx_.options.stats_chunk_days - 1);
    element doc;
    if (!get_json(url("/v3/stats?aggregated_by=day&start_date=" + civil_date(day) + "&end_date=" +
                      civil_date(end) + "&limit=" + std::to_string(end - day + 1) + "&offset=0"),
                  doc, out))
      return out;
    simdjson::dom::array days;
    if (doc.get_array().get(days) != simdjson::SUCCESS) {
      out.status = fetched::kind::failed;
      out.error = "GET /v3/stats: the answer is not a JSON array";
      return out;
    }
    for (element d : days) {
      std::string_view date;
      if (!field(d, "date") || field(d, "date")->get_string().get(date) != simdjson::SUCCESS)
        continue;
      std::optional<element> metrics;
      simdjson::dom::array stats;
      if (auto s = field(d, "stats"); s && s->get_array().get(stats) == simdjson::SUCCESS) {
        for (element st : stats) {
          metrics = field(st, "metrics");
          break;
        }
      }
      fill(c_, d, row_, metrics);
      row_.text(0, date);
      row_.text(date_col, date);
      stage(row_);
    }
    day = end + 1;
    progress("fetching");
  }
  out.state.emplace_back(key, civil_date(today));
  return out;
}

// /v3/categories/stats/sums, one day per request (categories paged with limit/offset):
// {"date": D, "stats": [{"metrics": {...}, "name": <category>, "type": "category"}]}.
fetched account_run::fetch_category_stats() {
  fetched out;
  const long long today = unix_seconds(ctx_.options.now()) / seconds_per_day;
  const std::string key = name_ + ".through";
  const int cat_col = col(c_, "category");
  const int date_col = col(c_, "date");
  const int limit = ctx_.options.category_page_size;
  for (long long day = stats_start_day(today, ctx_.store.state(key)); day <= today; ++day) {
    const std::string date = civil_date(day);
    const auto url_at = [&](std::int64_t offset) {
      return "/v3/categories/stats/sums?aggregated_by=day&start_date=" + date +
             "&end_date=" + date + "&limit=" + std::to_string(limit) +
             "&offset=" + std::to_string(offset);
    };
    const auto page = [&](element doc) -> std::int64_t {
      // Accept the object, or an array of such objects.
      std::vector<element> days;
      simdjson::dom::array arr;
      if (array_at(doc, "", arr)) {
        for (element d : arr) days.push_back(d);
      } else {
        days.push_back(doc);
      }
      std::int64_t got = 0;
      for (element d : days) {
        simdjson::dom::array stats;
        if (!array_at(d, "stats", stats)) continue;
        for (element st : stats) {
          ++got;
          std::string_view name;
          if (!field(st, "name") || field(st, "name")->get_string().get(name) != simdjson::SUCCESS)
            continue;
          fill(c_, st, row_, field(st, "metrics"));
          row_.owned(0) = std::string(name) + "|" + date;
          row_.text(cat_col, name);
          row_.owned(date_col) = date;
          stage(row_);
        }
      }
      return got;
    };
    if (!page_by_offset(url_at, limit, "/v3/categories/stats/sums", page, out)) return out;
    progress("fetching");
  }
  out.state.emplace_back(key, civil_date(today));
  return out;
}

void account_run::stage_marketing_stat(element item, const std::string& id) {
  fill(c_, item, row_, field(item, "stats"));
  auto text_of = [&](std::string_view k) {
    auto e = field(item, k);
    if (!e || e->is_null()) return std::string();
    std::string_view s;
    if (e->get_string().get(s) == simdjson::SUCCESS) return std::string(s);
    return simdjson::minify(*e);
  };
  const std::string aggregation = text_of("aggregation");
  // The key keeps the aggregation as SendGrid wrote it; `date` is the day of a day's row
  // ("2026-01-01", or the date part of a timestamp), NULL for the totals.
  row_.owned(0) =
      c_ == collection::automation_stats
          ? id + "|" + text_of("step_id") + "|" + aggregation
          : id + "|" + text_of("ab_variation") + "|" + text_of("ab_phase") + "|" + aggregation;
  if (aggregation.size() >= 10 && parse_civil_date(std::string_view(aggregation).substr(0, 10)))
    row_.owned(col(c_, "date")) = aggregation.substr(0, 10);
  stage(row_);
}

// /v3/marketing/stats/{singlesends,automations}: first the listing (totals per item and
// variation or step, _metadata.next paging), then per item with any activity its days
// (/{id}?aggregated_by=day) from the trailing window, or the backfill on the first run, to
// today. Rows are upserted by key; like stats_daily they are history and never tombstoned (a
// deleted single send keeps its figures; `campaigns` shows it deleted).
fetched account_run::fetch_marketing_stats(const std::string& list_path) {
  fetched out;
  const long long today = unix_seconds(ctx_.options.now()) / seconds_per_day;
  const std::string key = name_ + ".through";
  const long long first_day = stats_start_day(today, ctx_.store.state(key));
  const bool automation = c_ == collection::automation_stats;
  const std::string page_size = std::to_string(ctx_.options.marketing_stats_page_size);
  std::vector<std::string> active;  // ids with a non-zero total, in listing order
  const auto results = [&](element doc, simdjson::dom::array& items) {
    if (array_at(doc, "results", items)) return true;
    failed(out, "GET " + list_path + ": the answer has no results array");
    return false;
  };
  const auto totals = [&](element doc) -> std::int64_t {
    simdjson::dom::array items;
    if (!results(doc, items)) return -1;
    for (element item : items) {
      const auto id = id_text(field(item, "id"));
      if (id.empty()) continue;
      stage_marketing_stat(item, id);
      // A draft or a step that never sent has all-zero totals, and so no days to read.
      bool any = false;
      if (auto stats = field(item, "stats"); stats && stats->is_object()) {
        for (auto [k, v] : simdjson::dom::object(*stats)) {
          std::int64_t n = 0;
          any = any || (v.get_int64().get(n) == simdjson::SUCCESS && n != 0);
        }
      }
      if (any && std::find(active.begin(), active.end(), id) == active.end()) active.push_back(id);
    }
    return static_cast<std::int64_t>(items.size());
  };
  if (!page_by_next_link(url(list_path + "?page_size=" + page_size), list_path, totals, out))
    return out;
  const std::string group_by =
      automation ? "&group_by=step_id" : "&group_by=ab_variation&group_by=ab_phase";
  for (const auto& id : active) {
    const auto days = [&](element doc) -> std::int64_t {
      simdjson::dom::array items;
      if (!results(doc, items)) return -1;
      for (element item : items) stage_marketing_stat(item, id);
      return static_cast<std::int64_t>(items.size());
    };
    const std::string first =
        url(list_path + "/" + sendgrid::path_segment(id) +
            "?aggregated_by=day&start_date=" + civil_date(first_day) +
            "&end_date=" + civil_date(today) + group_by + "&page_size=" + page_size);
    if (!page_by_next_link(first, list_path + "/{id}", days, out)) return out;
    progress("fetching");
  }
  out.state.emplace_back(key, civil_date(today));
  return out;
}

// The Email Activity API has no cursor and answers at most `limit` messages: a window that
// comes back full is split in two and each half read again, until every window answers with
// fewer than the limit (or is one second wide: then what came is kept and the run says so).
fetched account_run::fetch_messages() {
  fetched out;
  const auto& o = ctx_.options;
  const long long now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(o.now().time_since_epoch()).count();
  const std::string key = "messages.through";
  const std::string through = ctx_.store.state(key);
  // The first run reads the backfill; later runs from the last window's end less the
  // trailing re-read (a message's status and counts change after its first events).
  long long start_ms = now_ms - o.messages_backfill.count() * 1000;
  if (!through.empty()) start_ms = std::stoll(through) - o.messages_trailing.count() * 1000;
  std::vector<std::pair<long long, long long>> windows{{start_ms, now_ms}};  // a stack
  bool first_request = true;
  std::int64_t saturated = 0;
  while (!windows.empty()) {
    const auto [a, b] = windows.back();
    windows.pop_back();
    if (!first_request && o.messages_request_interval.count() > 0) {
      if (!ctx_.session.sleep(o.messages_request_interval)) {
        out.status = fetched::kind::stopped;
        out.error = "stopped";
        return out;
      }
    }
    first_request = false;
    const std::string query = "last_event_time BETWEEN TIMESTAMP \"" + iso_millis(a) +
                              "\" AND TIMESTAMP \"" + iso_millis(b) + "\"";
    element doc;
    if (!get_json(url("/v3/messages?limit=" + std::to_string(o.messages_limit) +
                      "&query=" + url_encode(query)),
                  doc, out))
      return out;
    simdjson::dom::array items;
    if (!field(doc, "messages") ||
        field(doc, "messages")->get_array().get(items) != simdjson::SUCCESS) {
      out.status = fetched::kind::failed;
      out.error = "GET /v3/messages: the answer has no messages array";
      return out;
    }
    if (static_cast<std::int64_t>(items.size()) >= o.messages_limit && b - a > 1000) {
      const long long mid = a + (b - a) / 2;
      // Later half below on the stack: windows are read oldest first.
      windows.emplace_back(mid + 1, b);
      windows.emplace_back(a, mid);
      continue;
    }
    if (static_cast<std::int64_t>(items.size()) >= o.messages_limit) ++saturated;
    for (element item : items) {
      const auto id = id_text(field(item, "msg_id"));
      if (id.empty()) continue;
      fill(c_, item, row_);
      row_.owned(0) = id;
      stage(row_);
    }
    progress("fetching");
  }
  if (saturated > 0) {
    logging::warn(
        "sync: some one-second windows still held the limit of messages or more; some messages "
        "of those seconds may be missing",
        {{"source", o.source_name},
         {"collection", "messages"},
         {"windows", saturated},
         {"limit", o.messages_limit}});
  }
  out.state.emplace_back(key, std::to_string(now_ms));
  return out;
}

void report_metrics(const account_run_context& ctx, const collection_result& r,
                    std::chrono::milliseconds waited) {
  if (ctx.options.metrics == nullptr) return;
  const auto finished = ctx.options.now();
  metrics::sync_run_report m;
  m.source = ctx.options.source_name;
  m.collection = std::string(store::collection_name(r.collection));
  m.result = std::string(store::run_status_name(r.status));
  m.rows_upserted = r.counts.rows_upserted;
  m.rows_tombstoned = r.counts.rows_tombstoned;
  m.http_retries = r.counts.http_retries;
  m.rate_limit_waits = r.counts.rate_limit_waits;
  m.rate_limit_wait_seconds = std::chrono::duration<double>(waited).count();
  m.finished_unix = unix_seconds(finished);
  m.finished_at = iso8601(finished);
  ctx.options.metrics->run_finished(m);
}

void log_line(const account_run_context& ctx, const collection_result& r) {
  logging::log(r.status == store::run_status::succeeded ? spdlog::level::info : spdlog::level::warn,
               "sync",
               {{"source", ctx.options.source_name},
                {"collection", store::collection_name(r.collection)},
                {"status", store::run_status_name(r.status)},
                {"api", r.source_api.empty() ? "-" : r.source_api},
                {"pages", r.counts.pages},
                {"rows", r.counts.rows_seen},
                {"upserted", r.counts.rows_upserted},
                {"tombstoned", r.counts.rows_tombstoned},
                {"retries", r.counts.http_retries},
                {"rate_limit_waits", r.counts.rate_limit_waits},
                {"ms", r.duration.count()},
                {"error", r.error}});
}

collection_result account_run::run() {
  collection_result result;
  result.collection = c_;
  const auto started = std::chrono::steady_clock::now();
  auto& store = ctx_.store;
  std::int64_t run_row = -1;
  fetched f;
  ctx_.session.take_stats();
  try {
    run_row =
        store.begin_run(ctx_.run_id, ctx_.options.source_name, c_, iso8601(ctx_.options.now()));
    store.begin_collection(c_);
    progress("fetching");
    f = fetch();
    const bool merge =
        (f.status == fetched::kind::complete || f.status == fetched::kind::failed) && !stopping();
    auto keep_going = [this] { return !stopping(); };
    if (merge) {
      progress("merging");
      const std::string now = iso8601(ctx_.options.now());
      counts_.rows_upserted = store.merge(source_api_, now, keep_going);
      if (f.status == fetched::kind::complete && !stopping()) {
        if (f.tombstone) {
          progress("tombstoning");
          counts_.rows_tombstoned = store.tombstone(now, keep_going);
        }
        if (!stopping()) {
          for (const auto& [k, v] : f.state) store.set_state(k, v, now);
        }
      }
    }
    if (stopping() && f.status == fetched::kind::complete) {
      f.status = fetched::kind::stopped;
      f.error = "stopped";
    }
    store.end_collection();
  } catch (const store::object_store_error& e) {
    f.status = fetched::kind::failed;
    f.error = e.what();
    try {
      store.end_collection();
    } catch (const store::object_store_error&) {
      // Already failing; the temp table goes with the connection.
    }
  } catch (const std::exception& e) {  // std::stoll on a damaged cursor
    f.status = fetched::kind::failed;
    f.error = std::string("bad sync_state for ") + name_ + ": " + e.what();
    try {
      store.end_collection();
    } catch (const store::object_store_error&) {
    }
  }
  const auto stats = ctx_.session.take_stats();
  counts_.http_retries += stats.http_retries;
  counts_.rate_limit_waits += stats.rate_limit_waits;
  switch (f.status) {
    case fetched::kind::complete:
      result.status = store::run_status::succeeded;
      break;
    case fetched::kind::stopped:
      result.status = store::run_status::stopped;
      break;
    case fetched::kind::forbidden: {
      result.status = store::run_status::skipped;
      const auto scopes = required_scopes(c_);
      std::string need;
      for (auto s : scopes) need += (need.empty() ? "'" : " or '") + std::string(s) + "'";
      result.error = "skipped: SendGrid refused it (" + std::to_string(f.http_status) + ")";
      if (c_ == collection::messages) {
        result.error +=
            ": the key needs 'email_activity.read' and the account the Email Activity add-on";
      } else if (!need.empty()) {
        result.error += ": give the API key the " + need + " scope under Settings > API Keys";
      } else {
        result.error += ": give the API key access to it under Settings > API Keys";
      }
      const auto said = sendgrid::describe_error_body(f.body);
      if (!said.empty()) result.error += " (SendGrid said: " + said + ")";
      break;
    }
    case fetched::kind::unauthorized:
      result.status = store::run_status::failed;
      result.auth_rejected = true;
      result.error = sendgrid::auth_failure_message(ctx_.options.source_name, 401, f.body, name_,
                                                    "'scopes'", ctx_.options.on_behalf_of);
      break;
    case fetched::kind::failed:
      result.status = store::run_status::failed;
      break;
  }
  if (result.error.empty() && f.status != fetched::kind::complete) result.error = f.error;
  result.counts = counts_;
  result.source_api = f.status == fetched::kind::complete ? source_api_ : "";
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  if (run_row >= 0) {
    try {
      store.finish_run(run_row, result.status, result.source_api, counts_,
                       iso8601(ctx_.options.now()), result.error);
    } catch (const store::object_store_error& e) {
      result.status = store::run_status::failed;
      result.error += (result.error.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  progress(store::run_status_name(result.status));
  report_metrics(ctx_, result, stats.rate_limit_waited);
  log_line(ctx_, result);
  return result;
}

}  // namespace

std::array<collection, 21> sync_order() {
  std::array<collection, 21> out{};
  std::size_t i = 0;
  for (auto c : store::all_collections) out[i++] = c;
  for (auto c : store::account_collections) out[i++] = c;
  return out;
}

std::vector<std::string_view> required_scopes(collection c) {
  switch (c) {
    case collection::lists:
    case collection::segments:
    case collection::campaigns:
    case collection::recipients:
      return {"marketing.read", "marketing_campaigns.read"};
    case collection::bounces:
      return {"suppression.read", "suppression.bounces.read"};
    case collection::blocks:
      return {"suppression.read", "suppression.blocks.read"};
    case collection::spam_reports:
      return {"suppression.read", "suppression.spam_reports.read"};
    case collection::invalid_emails:
      return {"suppression.read", "suppression.invalid_emails.read"};
    case collection::global_unsubscribes:
      return {"suppression.read", "suppression.unsubscribes.read"};
    case collection::unsubscribe_groups:
    case collection::group_suppressions:
      return {"asm.groups.read"};
    case collection::templates:
    case collection::template_versions:
      return {"templates.read"};
    case collection::senders:
    case collection::field_definitions:
    case collection::singlesend_stats:
    case collection::automation_stats:
      return {"marketing.read"};
    case collection::verified_senders:
      return {};
    case collection::stats_daily:
      return {"stats.read", "stats.global.read"};
    case collection::category_stats_daily:
      return {"categories.stats.read", "stats.read"};
    case collection::messages:
      return {"email_activity.read"};
  }
  return {};
}

std::string missing_scope(collection c, const std::vector<std::string>& scopes) {
  const auto need = required_scopes(c);
  if (need.empty()) return {};
  for (auto n : need) {
    if (std::find(scopes.begin(), scopes.end(), n) != scopes.end()) return {};
  }
  std::string names;
  for (auto n : need) names += (names.empty() ? "'" : " or '") + std::string(n) + "'";
  return "skipped: the API key has no " + names +
         " scope: add it under Settings > API Keys to sync " +
         std::string(store::collection_name(c));
}

std::vector<collection> all_collections_but_opt_in() {
  std::vector<collection> out;
  for (auto c : sync_order())
    if (c != collection::messages) out.push_back(c);
  return out;
}

std::optional<std::vector<std::string>> read_scopes(sendgrid::api_session& session,
                                                    const std::string& api_base) {
  const auto r = session.get(api_url(api_base, "/v3/scopes"));
  if (!r.ok()) return std::nullopt;
  simdjson::dom::parser parser;
  element doc;
  if (parser.parse(r.res.body).get(doc) != simdjson::SUCCESS) return std::nullopt;
  auto s = field(doc, "scopes");
  simdjson::dom::array arr;
  if (!s || s->get_array().get(arr) != simdjson::SUCCESS) return std::nullopt;
  std::vector<std::string> out;
  for (element e : arr) {
    std::string_view v;
    if (e.get_string().get(v) == simdjson::SUCCESS) out.emplace_back(v);
  }
  return out;
}

collection_result run_account_collection(account_run_context& ctx, collection c) {
  account_run run(ctx, c);
  return run.run();
}

collection_result skip_collection(account_run_context& ctx, collection c, const std::string& why) {
  collection_result r;
  r.collection = c;
  r.status = store::run_status::skipped;
  r.error = why;
  try {
    const auto at = iso8601(ctx.options.now());
    const auto row = ctx.store.begin_run(ctx.run_id, ctx.options.source_name, c, at);
    ctx.store.finish_run(row, r.status, {}, r.counts, at, r.error);
  } catch (const store::object_store_error& e) {
    r.error += "; " + std::string(e.what());
  }
  if (ctx.options.on_progress)
    ctx.options.on_progress({ctx.options.source_name, c, "skipped", 0, 0});
  report_metrics(ctx, r, {});
  log_line(ctx, r);
  return r;
}

std::string sql_time_to_iso(std::string_view t) {
  // "YYYY-MM-DD HH:MM:SS" exactly.
  if (t.size() == 19 && t[4] == '-' && t[7] == '-' && t[10] == ' ' && t[13] == ':' &&
      t[16] == ':') {
    std::string out(t);
    out[10] = 'T';
    return out + "Z";
  }
  return std::string(t);
}

std::string civil_date(long long days) {
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{days}}};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::optional<long long> parse_civil_date(std::string_view t) {
  if (t.size() != 10 || t[4] != '-' || t[7] != '-') return std::nullopt;
  int y = 0;
  unsigned m = 0, d = 0;
  for (std::size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u})
    if (t[i] < '0' || t[i] > '9') return std::nullopt;
  y = (t[0] - '0') * 1000 + (t[1] - '0') * 100 + (t[2] - '0') * 10 + (t[3] - '0');
  m = static_cast<unsigned>((t[5] - '0') * 10 + (t[6] - '0'));
  d = static_cast<unsigned>((t[8] - '0') * 10 + (t[9] - '0'));
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m},
                                        std::chrono::day{d}};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days{ymd}.time_since_epoch().count();
}

std::string iso_millis(long long ms) {
  const long long secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  const long long rem = ms - secs * 1000;
  const long long days =
      secs >= 0 ? secs / seconds_per_day : (secs - seconds_per_day + 1) / seconds_per_day;
  const long long sod = secs - days * seconds_per_day;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%sT%02lld:%02lld:%02lld.%03lldZ", civil_date(days).c_str(),
                sod / 3600, (sod / 60) % 60, sod % 60, rem);
  return buf;
}

std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : text) {
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

}  // namespace sgs::sync
