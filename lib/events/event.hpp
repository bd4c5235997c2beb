// The typed SendGrid Event Webhook event, as parsed from one webhook body (pure data).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sgs::events {

// Every event type SendGrid documents, plus `other` for event strings we do not know.
enum class event_type : std::uint8_t {
  processed,
  dropped,
  delivered,
  deferred,
  bounce,
  open,
  click,
  spamreport,
  unsubscribe,
  group_unsubscribe,
  group_resubscribe,
  account_status_change,
  other,
};
inline constexpr std::size_t event_type_count = 13;

// All types in table order, for loops over every event table.
inline constexpr std::array<event_type, event_type_count> all_event_types = {
    event_type::processed,
    event_type::dropped,
    event_type::delivered,
    event_type::deferred,
    event_type::bounce,
    event_type::open,
    event_type::click,
    event_type::spamreport,
    event_type::unsubscribe,
    event_type::group_unsubscribe,
    event_type::group_resubscribe,
    event_type::account_status_change,
    event_type::other,
};

// The `event` string on the wire ("open", "spamreport", ...); "" for `other`.
std::string_view wire_name(event_type type);
// The table that stores the type: "_open", "spam_report", "other_events", ...
std::string_view table_name(event_type type);
// The type for a wire string; `other` when SendGrid sent a string we do not know.
event_type event_type_from_wire(std::string_view name);

// One usable event. String views point into the parsed_batch's copy of the request body or
// into its parser's string buffer: they are valid while the `parsed_batch` that holds the
// event is alive (moving it is fine). Absent fields are nullopt; every field is optional on
// the wire except `event` (and `email`, except for account_status_change).
struct event {
  event_type kind = event_type::other;  // which table; (`type` below is the wire field)
  std::string_view event_name;          // the `event` string as sent (unescaped)
  std::string_view raw;                 // the element's exact bytes in the body, untouched

  std::optional<std::string_view> sg_event_id;
  std::optional<std::string_view> sg_message_id;  // leading/trailing spaces trimmed
  std::optional<std::string_view> email;
  std::optional<std::int64_t>
      timestamp;  // unix seconds as sent (int, numeric string, float floored)
  std::optional<std::string_view> smtp_id;  // wire key "smtp-id", unescaped (\u003c -> <)
  std::string category = "[]";              // always a JSON array: "x" -> ["x"], absent -> []
  std::optional<std::int64_t> asm_group_id;
  std::optional<std::string_view> reason;
  std::optional<std::string_view> status;
  std::optional<std::string_view> response;
  std::optional<std::int64_t> attempt;   // "5" or 5
  std::optional<std::string_view> type;  // wire key "type": bounce|blocked, or compliance_*
  std::optional<std::string_view> bounce_classification;
  std::optional<std::string_view> url;
  std::optional<std::int64_t> url_offset_index;     // url_offset.index
  std::optional<std::string_view> url_offset_type;  // url_offset.type
  std::optional<std::string_view> useragent;
  std::optional<std::string_view> ip;
  std::optional<std::int64_t> tls;              // 0/1 or false/true -> 0/1
  std::optional<std::int64_t> cert_err;         // 0/1 or bool
  std::optional<std::int64_t> sg_machine_open;  // bool -> 0/1
  std::optional<std::string_view> sg_content_type;
  std::optional<std::string_view> pool_name;  // pool.name
  std::optional<std::int64_t> pool_id;        // pool.id
  std::optional<std::int64_t> marketing_campaign_id;
  std::optional<std::string_view> marketing_campaign_name;
  std::optional<std::string_view> marketing_campaign_version;
  std::optional<std::int64_t> marketing_campaign_split_id;
  std::optional<std::string_view> post_type;
  std::optional<std::int64_t> sg_user_id;
  std::optional<std::string_view> singlesend_id;
  std::optional<std::string_view> singlesend_name;
  std::optional<std::string_view> mc_stats;
  std::optional<std::string_view> phase_id;
  std::optional<std::int64_t> send_at;  // "1591726752372" or 0
  std::optional<std::string_view> template_id;
  std::optional<std::string_view> template_version_id;
  std::optional<std::string_view> template_hash;
  std::optional<std::string_view> sg_template_id;
  std::optional<std::string_view> sg_template_name;
  std::optional<std::string_view> domain;
  std::optional<std::string_view> from;   // wire key "from" (deferred events)
  std::optional<std::string> newsletter;  // JSON object text, as sent (minified raw)
  // JSON object of every top-level key SendGrid does not define (custom_args / unique_args),
  // values copied as their raw JSON text; "{}" when there are none.
  std::string custom_args = "{}";
  // The parser made a typed value differ from what the element's JSON holds at that key: a
  // duplicate key (the last one counts here), a trimmed sg_message_id, nested custom args.
  // The SQLite store then stores the typed text values instead of deriving them from `raw`.
  bool reshaped = false;
};

// 128-bit key for deduplication: a hash of sg_event_id, or of the content fingerprint.
struct dedup_key {
  std::uint64_t high = 0;
  std::uint64_t low = 0;
  friend bool operator==(const dedup_key&, const dedup_key&) = default;
};

// Key for "this sg_event_id was stored already"; nullopt when the event has no sg_event_id.
std::optional<dedup_key> event_id_key(const event& e);
// Key for "this content was stored already": event type name, sg_message_id, email, timestamp
// and the fields that tell two events of one message apart (url, url_offset index,
// asm_group_id, reason, status, response, attempt, type, ip, useragent). Computed only from
// typed fields, so it can be recomputed from a stored row (see store) after a restart.
dedup_key fingerprint_key(const event& e);

}  // namespace sgs::events
