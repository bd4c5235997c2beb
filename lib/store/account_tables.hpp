// The tables of the whole account beyond the marketing four (issue 16): each collection's
// columns and where each column comes from in SendGrid's JSON, in one place for the store
// (column names) and the sync (the mapping).
#pragma once

#include <array>
#include <span>
#include <string_view>

#include "store/object_store.hpp"

namespace sgs::store {

// In sync order, after lists, segments, campaigns, recipients.
inline constexpr std::array<collection, 17> account_collections = {collection::bounces,
                                                                   collection::blocks,
                                                                   collection::spam_reports,
                                                                   collection::invalid_emails,
                                                                   collection::global_unsubscribes,
                                                                   collection::unsubscribe_groups,
                                                                   collection::group_suppressions,
                                                                   collection::templates,
                                                                   collection::template_versions,
                                                                   collection::senders,
                                                                   collection::verified_senders,
                                                                   collection::field_definitions,
                                                                   collection::stats_daily,
                                                                   collection::category_stats_daily,
                                                                   collection::singlesend_stats,
                                                                   collection::automation_stats,
                                                                   collection::messages};

bool is_account_collection(collection c);

// How a column is filled from an item of the API's answer.
enum class column_source : unsigned char {
  text,      // a string as it is; numbers/booleans as their JSON text
  integer,   // integers, booleans (0/1), numeric strings
  json,      // arrays/objects as minified JSON
  sql_time,  // "YYYY-MM-DD HH:MM:SS" (UTC) -> "YYYY-MM-DDTHH:MM:SSZ"; ISO text kept as is
  computed,  // set by the sync's code (ids built from several fields, raw)
};

struct account_column {
  std::string_view name;
  std::string_view json;  // key in the item; "a.b" is key b of object a; "" for computed
  column_source source;
};

// The typed columns of an account collection: `id` first, `raw` last (both computed).
std::span<const account_column> account_columns(collection c);
std::span<const std::string_view> account_column_names(collection c);
std::string_view account_table_name(collection c);

// Index of a column by name, or -1.
int account_column_index(collection c, std::string_view name);

}  // namespace sgs::store
