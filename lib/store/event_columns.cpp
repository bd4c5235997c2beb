// The event column list, built from the one table of event_columns.hpp.
#include "store/event_columns.hpp"

#include <cstring>

#include "text/json.hpp"

namespace sgs::store {

std::string event_column_list() {
  std::string out;
  for (const auto& c : event_columns) {
    if (!out.empty()) out += ", ";
    out += c.name;
  }
  return out;
}

namespace {

// No whitespace outside strings. Only called on text without backslashes, so a quote always
// opens or closes a string.
bool is_minified(std::string_view json) {
  bool in_string = false;
  for (char c : json) {
    if (c == '"') {
      in_string = !in_string;
    } else if (!in_string && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool raw_gives_typed_values(const events::event& e) {
  if (e.reshaped) return false;
  if (std::memchr(e.raw.data(), '\\', e.raw.size()) != nullptr) return false;
  return is_minified(e.category) && is_minified(e.custom_args);
}

void write_normalized_values(std::string& out, const events::event& e) {
  out.assign(1, '{');
  auto member = [&](std::string_view name, std::string_view value) {
    if (out.size() > 1) out += ',';
    text::append_json_string(out, name);
    out += ':';
    text::append_json_string(out, value);
  };
  for (const event_column& c : event_columns) {
    if (!c.sqlite_virtual) continue;
    if (const auto* m = std::get_if<std::optional<std::string_view> events::event::*>(&c.field)) {
      if (const auto& v = e.**m) member(c.name, *v);
    } else if (const auto* s = std::get_if<std::string events::event::*>(&c.field)) {
      member(c.name, e.**s);
    }
  }
  out += '}';
}

}  // namespace sgs::store
