// The event column list, built from the one table of event_columns.hpp.
#include "store/event_columns.hpp"

#include <cstdint>
#include <cstring>
#include <stdexcept>

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
    if (!c.sqlite_view) continue;
    if (const auto* m = std::get_if<std::optional<std::string_view> events::event::*>(&c.field)) {
      if (const auto& v = e.**m) member(c.name, *v);
    } else if (const auto* s = std::get_if<std::string events::event::*>(&c.field)) {
      member(c.name, e.**s);
    }
  }
  out += '}';
}

std::optional<events::event_type> event_type_of_kind(std::int64_t kind) {
  if (kind < 1 || kind > static_cast<std::int64_t>(events::event_type_count)) return std::nullopt;
  return events::all_event_types[static_cast<std::size_t>(kind - 1)];
}

namespace {

bool is_utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Characters (UTF-8 sequences, as SQLite's substr counts) in `text`.
std::int64_t characters(std::string_view text) {
  std::int64_t n = 0;
  for (char c : text) n += is_utf8_continuation(c) ? 0 : 1;
  return n;
}

// Where `value` sits in `raw` when it is the content of a string token there (the parser's
// view points into the body it read), else npos.
std::size_t place_in(std::string_view raw, const std::optional<std::string_view>& value) {
  if (!value) return std::string_view::npos;
  const auto begin = reinterpret_cast<std::uintptr_t>(raw.data());
  const auto at = reinterpret_cast<std::uintptr_t>(value->data());
  if (at <= begin || at + value->size() >= begin + raw.size()) return std::string_view::npos;
  const std::size_t offset = at - begin;
  if (raw[offset - 1] != '"' || raw[offset + value->size()] != '"') return std::string_view::npos;
  return offset;
}

// Byte offset of the `chars`-th character boundary of `text`.
std::size_t byte_offset(std::string_view text, std::int64_t chars) {
  if (chars < 0) throw std::invalid_argument("a negative offset");
  std::size_t i = 0;
  for (std::int64_t seen = 0; i < text.size(); ++i) {
    if (!is_utf8_continuation(text[i])) {
      if (seen == chars) return i;
      ++seen;
    }
  }
  if (characters(text) == chars) return text.size();
  throw std::invalid_argument("an offset past the end of the body");
}

}  // namespace

stored_body body_of(const events::event& e, std::string& scratch) {
  stored_body out{e.raw, std::nullopt, std::nullopt, raw_gives_typed_values(e)};
  if (!out.from_raw) return out;
  std::size_t email = place_in(e.raw, e.email);
  std::size_t message = place_in(e.raw, e.sg_message_id);
  if (email == std::string_view::npos && message == std::string_view::npos) return out;
  struct cut {
    std::size_t at, size;
    std::optional<std::int64_t>* offset;
  };
  cut cuts[2];
  std::size_t n = 0;
  if (email != std::string_view::npos) cuts[n++] = {email, e.email->size(), &out.email_at};
  if (message != std::string_view::npos) {
    cuts[n++] = {message, e.sg_message_id->size(), &out.message_at};
  }
  if (n == 2 && cuts[1].at < cuts[0].at) std::swap(cuts[0], cuts[1]);
  scratch.clear();
  std::size_t from = 0;
  std::int64_t chars = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string_view kept = e.raw.substr(from, cuts[i].at - from);
    scratch += kept;
    chars += characters(kept);
    *cuts[i].offset = chars;
    from = cuts[i].at + cuts[i].size;
  }
  scratch += e.raw.substr(from);
  out.body = scratch;
  return out;
}

void append_raw(std::string& out, std::string_view body, std::optional<std::string_view> email,
                std::optional<std::int64_t> email_at, std::optional<std::string_view> message_id,
                std::optional<std::int64_t> message_at) {
  struct put {
    std::size_t at;
    std::string_view value;
  };
  put puts[2];
  std::size_t n = 0;
  if (email_at) puts[n++] = {byte_offset(body, *email_at), email.value_or("")};
  if (message_at) puts[n++] = {byte_offset(body, *message_at), message_id.value_or("")};
  if (n == 2 && puts[1].at < puts[0].at) std::swap(puts[0], puts[1]);
  std::size_t from = 0;
  for (std::size_t i = 0; i < n; ++i) {
    out.append(body.substr(from, puts[i].at - from));
    out.append(puts[i].value);
    from = puts[i].at;
  }
  out.append(body.substr(from));
}

}  // namespace sgs::store
