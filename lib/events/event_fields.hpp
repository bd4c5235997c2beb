// The typed fields of a webhook event as SendGrid sends them, declared once: each top-level
// key, how its value is read, and the member of events::event it fills. parse.cpp's key
// lookup, readers and arena move all come from this table; store/event_columns.hpp maps the
// same members to columns (tests/unit/event_fields_test.cpp checks the two agree).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "events/event.hpp"

namespace sgs::events {

// How a key's value is read (sendgrid-api.md 8.2/8.3; leniencies in parse.hpp).
enum class field_kind : std::uint8_t {
  text,          // string -> optional<string_view>
  trimmed_text,  // same, ASCII whitespace trimmed (sg_message_id has been seen with a leading
                 // space)
  integer,       // int or numeric string
  timestamp,     // int, numeric string, or float (floored)
  flag,          // 0/1 (any int), numeric string, or true/false
  event_name,    // the `event` string
  category,      // string or array of strings -> JSON array text
  object,        // an object whose `members` are read (url_offset, pool); others are checked
  newsletter,    // object -> its raw JSON text
  nested_args,   // object whose members are custom args (unique_args / custom_args)
};

using text_member = std::optional<std::string_view> event::*;
using integer_member = std::optional<std::int64_t> event::*;

// A member of an object-valued field: `index` of url_offset.
struct member_field {
  std::string_view name;  // "index"
  std::string_view path;  // "url_offset.index": what a rejection reason names
  field_kind kind;        // text or integer
  text_member text = nullptr;
  integer_member integer = nullptr;
};

struct wire_field {
  std::string_view name;  // the key on the wire ("smtp-id")
  field_kind kind;
  text_member text = nullptr;                  // text, trimmed_text
  integer_member integer = nullptr;            // integer, timestamp, flag
  std::span<const member_field> members = {};  // object
  // object: a bare integer is also accepted, into this member (the docs table gives
  // url_offset as Integer).
  integer_member bare_integer = nullptr;
  std::string_view expected = {};  // object: the rejection text, e.g. "must be an object ..."
};

inline constexpr member_field url_offset_members[] = {
    {"index", "url_offset.index", field_kind::integer, nullptr, &event::url_offset_index},
    {"type", "url_offset.type", field_kind::text, &event::url_offset_type, nullptr},
};
inline constexpr member_field pool_members[] = {
    {"name", "pool.name", field_kind::text, &event::pool_name, nullptr},
    {"id", "pool.id", field_kind::integer, nullptr, &event::pool_id},
};

// Keys SendGrid defines. Every other top-level key is a custom arg.
inline constexpr wire_field wire_fields[] = {
    {.name = "event", .kind = field_kind::event_name},
    {.name = "email", .kind = field_kind::text, .text = &event::email},
    {.name = "timestamp", .kind = field_kind::timestamp, .integer = &event::timestamp},
    {.name = "smtp-id", .kind = field_kind::text, .text = &event::smtp_id},
    {.name = "sg_event_id", .kind = field_kind::text, .text = &event::sg_event_id},
    {.name = "sg_message_id", .kind = field_kind::trimmed_text, .text = &event::sg_message_id},
    {.name = "category", .kind = field_kind::category},
    {.name = "asm_group_id", .kind = field_kind::integer, .integer = &event::asm_group_id},
    {.name = "reason", .kind = field_kind::text, .text = &event::reason},
    {.name = "status", .kind = field_kind::text, .text = &event::status},
    {.name = "response", .kind = field_kind::text, .text = &event::response},
    {.name = "attempt", .kind = field_kind::integer, .integer = &event::attempt},
    {.name = "type", .kind = field_kind::text, .text = &event::type},
    {.name = "bounce_classification",
     .kind = field_kind::text,
     .text = &event::bounce_classification},
    {.name = "url", .kind = field_kind::text, .text = &event::url},
    {.name = "url_offset",
     .kind = field_kind::object,
     .members = url_offset_members,
     .bare_integer = &event::url_offset_index,
     .expected = "must be an object with `index` and `type`"},
    {.name = "useragent", .kind = field_kind::text, .text = &event::useragent},
    {.name = "ip", .kind = field_kind::text, .text = &event::ip},
    {.name = "tls", .kind = field_kind::flag, .integer = &event::tls},
    {.name = "cert_err", .kind = field_kind::flag, .integer = &event::cert_err},
    {.name = "sg_machine_open", .kind = field_kind::flag, .integer = &event::sg_machine_open},
    {.name = "sg_content_type", .kind = field_kind::text, .text = &event::sg_content_type},
    {.name = "pool",
     .kind = field_kind::object,
     .members = pool_members,
     .expected = "must be an object with `name` and `id`"},
    {.name = "marketing_campaign_id",
     .kind = field_kind::integer,
     .integer = &event::marketing_campaign_id},
    {.name = "marketing_campaign_name",
     .kind = field_kind::text,
     .text = &event::marketing_campaign_name},
    {.name = "marketing_campaign_version",
     .kind = field_kind::text,
     .text = &event::marketing_campaign_version},
    {.name = "marketing_campaign_split_id",
     .kind = field_kind::integer,
     .integer = &event::marketing_campaign_split_id},
    {.name = "post_type", .kind = field_kind::text, .text = &event::post_type},
    {.name = "sg_user_id", .kind = field_kind::integer, .integer = &event::sg_user_id},
    {.name = "singlesend_id", .kind = field_kind::text, .text = &event::singlesend_id},
    {.name = "singlesend_name", .kind = field_kind::text, .text = &event::singlesend_name},
    {.name = "mc_stats", .kind = field_kind::text, .text = &event::mc_stats},
    {.name = "phase_id", .kind = field_kind::text, .text = &event::phase_id},
    {.name = "send_at", .kind = field_kind::integer, .integer = &event::send_at},
    {.name = "template_id", .kind = field_kind::text, .text = &event::template_id},
    {.name = "template_version_id", .kind = field_kind::text, .text = &event::template_version_id},
    {.name = "template_hash", .kind = field_kind::text, .text = &event::template_hash},
    {.name = "sg_template_id", .kind = field_kind::text, .text = &event::sg_template_id},
    {.name = "sg_template_name", .kind = field_kind::text, .text = &event::sg_template_name},
    {.name = "domain", .kind = field_kind::text, .text = &event::domain},
    {.name = "from", .kind = field_kind::text, .text = &event::from},
    {.name = "newsletter", .kind = field_kind::newsletter},
    {.name = "unique_args", .kind = field_kind::nested_args},
    {.name = "custom_args", .kind = field_kind::nested_args},
};

namespace event_fields_detail {
constexpr bool is_text(field_kind k) {
  return k == field_kind::text || k == field_kind::trimmed_text;
}

// Calls f(member) for every optional<string_view> member the table fills, nested ones included.
template <class F>
constexpr void visit_text_members(F&& f) {
  for (const auto& w : wire_fields) {
    if (is_text(w.kind)) f(w.text);
    for (const auto& m : w.members) {
      if (is_text(m.kind)) f(m.text);
    }
  }
}

constexpr std::size_t count_text_members() {
  std::size_t n = 0;
  visit_text_members([&](text_member) { ++n; });
  return n;
}
}  // namespace event_fields_detail

// Every optional<string_view> member of event that parsing fills (not event_name, which is
// not optional): the views that may point into the parser's buffer.
inline constexpr auto text_members = [] {
  std::array<text_member, event_fields_detail::count_text_members()> out{};
  std::size_t i = 0;
  event_fields_detail::visit_text_members([&](text_member m) { out[i++] = m; });
  return out;
}();

}  // namespace sgs::events
