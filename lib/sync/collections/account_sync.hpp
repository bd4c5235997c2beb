// The account collections of issue 16 (suppressions, unsubscribe groups and members,
// templates and versions, senders, field definitions, stats, messages): which scope each
// needs, and one collection's run into its table with its sync_runs row.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sendgrid/session.hpp"
#include "store/account_tables.hpp"
#include "store/object_store.hpp"
#include "sync/sync_source.hpp"

namespace sgs::sync {

// Every collection in sync order: lists, segments, campaigns, recipients, then the account's.
std::array<store::collection, 21> sync_order();

// The scopes of which the key needs one to read collection c (from /v3/scopes names). Empty
// when no scope is documented for it (verified_senders): only a 403 tells.
std::vector<std::string_view> required_scopes(store::collection c);

// "" when `scopes` cover c, else the sentence that says what to add, e.g. "the API key has no
// 'suppression.read' scope: add it under Settings > API Keys".
std::string missing_scope(store::collection c, const std::vector<std::string>& scopes);

// What "all" means (the default of `collections`): every collection but messages, which is
// opt-in (a paid add-on read at 6 requests a minute).
std::vector<store::collection> all_collections_but_opt_in();

// The key's scopes from GET /v3/scopes; nullopt when they could not be read (then nothing is
// skipped in advance and a 403 skips a collection).
std::optional<std::vector<std::string>> read_scopes(sendgrid::api_session& session,
                                                    const std::string& api_base);

// Runs one account collection (store::is_account_collection(c)): fetch, merge, tombstones
// where the collection allows them, cursors, its sync_runs row, metrics and log line. A 403
// makes the collection `skipped` (the others go on); a 401 sets auth_rejected.
struct account_run_context {
  sendgrid::api_session& session;
  store::object_store& store;
  const sync_options& options;
  std::string api_base;
  std::string run_id;
};
collection_result run_account_collection(account_run_context& ctx, store::collection c);

// Records collection c as skipped with `why` (a sync_runs row, metrics, one log line).
collection_result skip_collection(account_run_context& ctx, store::collection c,
                                  const std::string& why);

// Pure helpers (tested on their own).
// "2020-11-12 12:00:09" -> "2020-11-12T12:00:09Z"; other text is returned as it is.
std::string sql_time_to_iso(std::string_view text);
// Days since 1970-01-01 <-> "YYYY-MM-DD".
std::string civil_date(long long days_since_epoch);
std::optional<long long> parse_civil_date(std::string_view text);
// Milliseconds since the epoch -> "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string iso_millis(long long ms);
// Percent-encodes a query value (RFC 3986 unreserved characters are kept).
std::string url_encode(std::string_view text);

}  // namespace sgs::sync
