// The typed columns of every event table, declared once: name, SQL type, whether NULL is
// allowed, and the field of a parsed event that fills it. The SQLite store's INSERT text and
// binder come from this table, and a test checks schema/0001_events.sql against it (PRAGMA
// table_info); a PostgreSQL store's COPY column list can come from it too. other_events has
// one more column first: `event` (the wire name of a type we do not know).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "events/event.hpp"

namespace sgs::store {

enum class column_type { text, integer };

// The column filled with the time the request arrived (not a field of the event).
struct received_at_column {};
// The column filled with the index segment the merger is filling (schema/0006).
struct segment_column {};

struct event_column {
  using event = events::event;
  std::string_view name;
  column_type type = column_type::text;
  bool not_null = false;
  std::variant<std::optional<std::string_view> event::*, std::optional<std::int64_t> event::*,
               std::string event::*, std::optional<std::string> event::*, std::string_view event::*,
               received_at_column, segment_column>
      field;
  // SQLite store (schema/0010_one_event_table.sql): computed by the views over event_rows, not
  // stored: the text columns from `body` (or `normalized`), `raw` from `body` with email and
  // sg_message_id put back, `received_at` from `received_at_ms`. The PostgreSQL store writes
  // every column.
  bool sqlite_view = false;
};

namespace event_columns_detail {
using events::event;
inline constexpr std::array<event_column, 47> columns{{
    {"sg_event_id", column_type::text, false, &event::sg_event_id, true},
    {"sg_message_id", column_type::text, false, &event::sg_message_id},
    {"email", column_type::text, false, &event::email},
    {"timestamp", column_type::integer, false, &event::timestamp},
    {"smtp_id", column_type::text, false, &event::smtp_id, true},
    {"category", column_type::text, true, &event::category, true},
    {"asm_group_id", column_type::integer, false, &event::asm_group_id},
    {"reason", column_type::text, false, &event::reason, true},
    {"status", column_type::text, false, &event::status, true},
    {"response", column_type::text, false, &event::response, true},
    {"attempt", column_type::integer, false, &event::attempt},
    {"type", column_type::text, false, &event::type, true},
    {"bounce_classification", column_type::text, false, &event::bounce_classification, true},
    {"url", column_type::text, false, &event::url, true},
    {"url_offset_index", column_type::integer, false, &event::url_offset_index},
    {"url_offset_type", column_type::text, false, &event::url_offset_type},
    {"useragent", column_type::text, false, &event::useragent, true},
    {"ip", column_type::text, false, &event::ip, true},
    {"tls", column_type::integer, false, &event::tls},
    {"cert_err", column_type::integer, false, &event::cert_err},
    {"sg_machine_open", column_type::integer, false, &event::sg_machine_open},
    {"sg_content_type", column_type::text, false, &event::sg_content_type, true},
    {"pool_name", column_type::text, false, &event::pool_name},
    {"pool_id", column_type::integer, false, &event::pool_id},
    {"marketing_campaign_id", column_type::integer, false, &event::marketing_campaign_id},
    {"marketing_campaign_name", column_type::text, false, &event::marketing_campaign_name, true},
    {"marketing_campaign_version", column_type::text, false, &event::marketing_campaign_version,
     true},
    {"marketing_campaign_split_id", column_type::integer, false,
     &event::marketing_campaign_split_id},
    {"post_type", column_type::text, false, &event::post_type, true},
    {"sg_user_id", column_type::integer, false, &event::sg_user_id},
    {"singlesend_id", column_type::text, false, &event::singlesend_id, true},
    {"singlesend_name", column_type::text, false, &event::singlesend_name, true},
    {"mc_stats", column_type::text, false, &event::mc_stats, true},
    {"phase_id", column_type::text, false, &event::phase_id, true},
    {"send_at", column_type::integer, false, &event::send_at},
    {"template_id", column_type::text, false, &event::template_id, true},
    {"template_version_id", column_type::text, false, &event::template_version_id, true},
    {"template_hash", column_type::text, false, &event::template_hash, true},
    {"sg_template_id", column_type::text, false, &event::sg_template_id, true},
    {"sg_template_name", column_type::text, false, &event::sg_template_name, true},
    {"domain", column_type::text, false, &event::domain, true},
    {"from_address", column_type::text, false, &event::from, true},
    {"newsletter", column_type::text, false, &event::newsletter},
    {"custom_args", column_type::text, true, &event::custom_args, true},
    {"raw", column_type::text, true, &event::raw, true},
    {"received_at", column_type::text, true, received_at_column{}, true},
    {"ingest_segment", column_type::integer, true, segment_column{}},
}};
}  // namespace event_columns_detail

// In table order (the order of schema/0001_events.sql after other_events' `event`).
inline constexpr const std::array<event_column, 47>& event_columns = event_columns_detail::columns;

// "sg_event_id, sg_message_id, ..., received_at, ingest_segment": the column list of an INSERT or
// COPY.
std::string event_column_list();

// SQLite store (schema/0008, 0010): whether json_extract over the event's `raw`
// gives exactly the typed values the parser read for every sqlite_view text column. True unless
// `raw` holds an escape sequence (json_extract cuts a string at \u0000, and an escaped key is not
// found by its path), the parser reshaped a value (event::reshaped), or `category` or the
// custom args hold whitespace (json_extract and json_remove render JSON without it).
bool raw_gives_typed_values(const events::event& e);

// The sqlite_view text columns' values as a JSON object keyed by column name (absent values left
// out): what the SQLite store keeps in `normalized` when raw_gives_typed_values() is false.
void write_normalized_values(std::string& out, const events::event& e);

// SQLite store (schema/0010): event_rows.kind of a type: 1 processed ... 12 account_status_change,
// 13 other (the order of events::all_event_types, which the views' WHERE kind = n spell out).
constexpr int event_rows_kind(events::event_type t) { return static_cast<int>(t) + 1; }
// The type of a kind; nullopt for a kind no view names.
std::optional<events::event_type> event_type_of_kind(std::int64_t kind);

// SQLite store (schema/0010): what event_rows keeps of `raw`. email and sg_message_id are stored
// in columns of their own, so `body` is `raw` with their values taken out ("email":""), and
// email_at / message_at are how many characters of `body` come before each (what SQL's substr
// counts). Nothing is taken out (both nullopt, body == raw) unless raw_gives_typed_values(e)
// and the value is a string of `raw` as sent.
struct stored_body {
  std::string_view body;  // raw itself or `scratch`
  std::optional<std::int64_t> email_at;
  std::optional<std::int64_t> message_at;
  bool from_raw = false;  // raw_gives_typed_values(e): else the row needs `normalized`
};
stored_body body_of(const events::event& e, std::string& scratch);
// Appends `raw` again, from what body_of() stored (what the views' `raw` column computes).
// Throws std::invalid_argument when the offsets do not fit the body.
void append_raw(std::string& out, std::string_view body, std::optional<std::string_view> email,
                std::optional<std::int64_t> email_at, std::optional<std::string_view> message_id,
                std::optional<std::int64_t> message_at);

}  // namespace sgs::store
