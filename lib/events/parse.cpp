// Webhook body -> typed events: one simdjson On-Demand pass that also validates the whole body.
//
// Invariants:
//   1. The body is copied once, into buffers::body (BOM removed). Every string_view handed out
//      points into that copy or into the parser's string buffer, both owned by the
//      parsed_batch through a unique_ptr, so moving the batch never moves the bytes.
//   2. Success means the whole body is one JSON array and every byte of it is valid JSON.
//      On-Demand only checks what it is asked to read and skips the rest by counting brackets,
//      so every value is either read by a typed simdjson getter (which checks it) or walked by
//      check_value() / check_scalar(). A value neither reads is a bug: a late syntax error
//      would then yield a partial batch instead of a 400. Strings are always consumed, never
//      left to On-Demand's skip (see check_scalar). The random-edit test in events_test.cpp
//      compares this against simdjson's fully validating DOM parser.
//   3. Each array element ends up in exactly one of events / rejected, in body order.
//      Element-level problems (wrong types, missing `event`) never fail the body; only
//      invalid JSON does.
//   4. A duplicate key replaces the earlier one entirely ("last wins"), including any problem
//      the earlier one had: forget() runs before each known key is read.
//   5. Nothing here throws: simdjson is used through error codes only. Allocation failure
//      (std::bad_alloc) is the one exception that can escape, as everywhere.
#include "events/parse.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>

#include "events/event_fields.hpp"

namespace sgs::events {

// The body as received (owned, with simdjson's padding reserved after it), the parser while
// it is needed, and, after parsing, one arena holding every unescaped string. The parser's
// buffers are ~6x the body (structural indexes), so they are freed as soon as the strings are
// moved out: a batch then costs its body, its arena and its events.
struct parsed_batch::buffers {
  std::string owned;  // the body, BOM included; capacity >= size + SIMDJSON_PADDING
  std::size_t bom = 0;
  std::unique_ptr<simdjson::ondemand::parser> parser =
      std::make_unique<simdjson::ondemand::parser>();
  simdjson::ondemand::document doc;
  std::string arena;
  std::string_view json() const { return std::string_view(owned).substr(bom); }
};

parsed_batch::parsed_batch() = default;
parsed_batch::parsed_batch(parsed_batch&&) noexcept = default;
parsed_batch& parsed_batch::operator=(parsed_batch&&) noexcept = default;
parsed_batch::~parsed_batch() = default;

std::string_view parsed_batch::body() const {
  return buffers_ ? buffers_->json() : std::string_view();
}

namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

constexpr std::size_t known_key_count = std::size(wire_fields);
constexpr std::uint8_t no_key = 0xFF;
static_assert(known_key_count < no_key);
static_assert(known_key_count <= 64);  // body_reader::known_seen_ is a 64-bit set

constexpr std::size_t max_key_length = 27;  // marketing_campaign_split_id

// Keys grouped by length, so a lookup compares bytes with at most a handful of candidates. The
// names are copied here, next to each other: wire_field entries are 80 bytes, and reaching
// each candidate's name through them cost ~2% of the whole parse (bench/parse_bench.cpp).
struct key_index {
  std::array<std::uint8_t, known_key_count> by_length{};
  std::array<std::string_view, known_key_count> names{};  // names[i] is wire_fields[by_length[i]]
  std::array<std::uint8_t, max_key_length + 2> first{};   // [first[n], first[n+1]) have length n
};

constexpr key_index make_key_index() {
  key_index index;
  std::size_t next = 0;
  for (std::size_t len = 0; len <= max_key_length; ++len) {
    index.first[len] = static_cast<std::uint8_t>(next);
    for (std::size_t i = 0; i < known_key_count; ++i) {
      if (wire_fields[i].name.size() != len) continue;
      index.names[next] = wire_fields[i].name;
      index.by_length[next++] = static_cast<std::uint8_t>(i);
    }
  }
  index.first[max_key_length + 1] = static_cast<std::uint8_t>(next);
  return index;
}
constexpr key_index keys_by_length = make_key_index();
static_assert(keys_by_length.first[max_key_length + 1] == known_key_count,
              "every known key must be at most max_key_length bytes long");

std::uint8_t find_known_key(std::string_view key) {
  if (key.empty() || key.size() > max_key_length) return no_key;
  for (std::size_t i = keys_by_length.first[key.size()]; i < keys_by_length.first[key.size() + 1];
       ++i) {
    const std::string_view name = keys_by_length.names[i];
    // Most candidates differ in an end byte; checking those first saves most memcmp calls.
    if (name.front() == key.front() && name.back() == key.back() && name == key) {
      return keys_by_length.by_length[i];
    }
  }
  return no_key;
}

std::string_view expectation(field_kind kind) {
  switch (kind) {
    case field_kind::text:
    case field_kind::trimmed_text:
    case field_kind::event_name:
      return "must be a string";
    case field_kind::integer:
      return "must be an integer";
    case field_kind::timestamp:
      return "must be an integer unix time";
    case field_kind::flag:
      return "must be 0, 1, true or false";
    case field_kind::category:
      return "must be a string or an array of strings";
    case field_kind::object:
      return "must be an object";
    case field_kind::newsletter:
    case field_kind::nested_args:
      return "must be an object";
  }
  return "has the wrong type";
}

std::string_view expectation(const wire_field& field) {
  return field.kind == field_kind::object ? field.expected : expectation(field.kind);
}

// The JSON type of a value from its first byte, for messages.
std::string_view json_type_name(char first) {
  switch (first) {
    case '{':
      return "object";
    case '[':
      return "array";
    case '"':
      return "string";
    case 't':
    case 'f':
      return "boolean";
    case 'n':
      return "null";
    default:
      return "number";
  }
}

bool is_json_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && is_json_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_json_space(s.front())) s.remove_prefix(1);
  return trim_right(s);
}

// RFC 8259 number grammar; On-Demand does not check numbers it is not asked to parse.
bool is_json_number(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  if (i < n && s[i] == '-') ++i;
  if (i == n) return false;
  if (s[i] == '0') {
    ++i;
  } else if (is_digit(s[i])) {
    while (i < n && is_digit(s[i])) ++i;
  } else {
    return false;
  }
  if (i < n && s[i] == '.') {
    ++i;
    if (i == n || !is_digit(s[i])) return false;
    while (i < n && is_digit(s[i])) ++i;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (i == n || !is_digit(s[i])) return false;
    while (i < n && is_digit(s[i])) ++i;
  }
  return i == n;
}

bool has_fraction_or_exponent(std::string_view number) {
  return number.find_first_of(".eE") != std::string_view::npos;
}

// One element-level problem; all texts are static, the reason is formatted only on rejection.
struct problem {
  std::uint8_t key;           // known key index, so a later duplicate key can drop it
  std::string_view field;     // "timestamp", "url_offset.index"
  std::string_view expected;  // "must be an integer unix time", "is missing"
  std::string_view got;       // "string", "" when not applicable
};

// What a reader reports a problem against.
struct label {
  std::uint8_t key;
  std::string_view field;
  std::string_view expected;
};

std::string reason_text(std::size_t index, std::string_view field, std::string_view expected,
                        std::string_view got) {
  std::string r = "element " + std::to_string(index) + ": ";
  if (!field.empty()) {
    r += '`';
    r += field;
    r += "` ";
  }
  r += expected;
  if (!got.empty()) {
    r += " (got ";
    r += got;
    r += ')';
  }
  return r;
}

// Reads the elements of one body. Holds no state between elements except reusable scratch
// vectors, and nothing outside the parse_batch call that owns it.
class body_reader {
 public:
  body_reader(const char* begin, const char* end, std::size_t bom, std::size_t max_depth)
      : begin_(begin), end_(end), bom_(bom), max_depth_(max_depth) {}

  // Reads element `index` into batch.events or batch.rejected. False when the body is not
  // valid JSON; failure() then says why.
  bool element(od::value& v, std::size_t index, parsed_batch& batch);

  // Records why the body is not valid JSON; always returns false for `return fail(...)`.
  bool fail(const char* at, std::string_view what) {
    failure_ = "the body is not valid JSON: ";
    failure_ += what;
    if (at != nullptr && at >= begin_ && at <= end_) {
      failure_ += " at byte ";
      failure_ += std::to_string(static_cast<std::size_t>(at - begin_) + bom_);
    }
    return false;
  }
  bool fail(error_code err, od::value& where) {
    // After an iteration error simdjson points at the token it choked on.
    const char* at = nullptr;
    if (where.current_location().get(at) != simdjson::SUCCESS) at = nullptr;
    switch (err) {
      case simdjson::TAPE_ERROR:
        return fail(at, "a comma, colon, bracket or brace is missing or misplaced");
      case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
        return fail(at, "an array or object is not closed");
      default:
        return fail(at, simdjson::error_message(err));
    }
  }
  bool too_deep(const char* at) {
    failure_ = "the body nests arrays and objects deeper than " + std::to_string(max_depth_) +
               " levels (at byte " + std::to_string(static_cast<std::size_t>(at - begin_) + bom_) +
               ")";
    return false;
  }
  // fail() for functions that return a pointer.
  const char* fail_null(const char* at, std::string_view what) {
    fail(at, what);
    return nullptr;
  }
  std::string& failure() { return failure_; }

 private:
  // Checks `v` and everything inside it. Containers are iterated (and thereby consumed);
  // scalars are checked from their token and left for the enclosing iterator to skip.
  bool check_value(od::value& v, std::size_t depth);
  // Checks a scalar; returns one past its last byte, or nullptr after fail(). Strings are
  // consumed: On-Demand's skip takes a string followed by `:` for an object key and would
  // then swallow `["k":1}` without complaint. Other scalars are left for the iterator to skip.
  const char* check_scalar(od::value& v);
  // Finds the closing quote of the string whose content starts at `p`, checking escapes the
  // way JSON defines them (an unpaired \uD800 is well-formed JSON, only not valid Unicode).
  // nullptr when an escape is malformed.
  const char* scan_string(const char* p, bool& escaped) const;
  // The key of `f` without its quotes; false after fail() when it has a malformed escape.
  bool key_of(od::field& f, std::string_view& key, bool& escaped);
  // Iterates the members of the object `v`: on_member(field, key, escaped) with the key as
  // key_of() gives it; false (after fail()) as soon as the JSON is bad or on_member says so.
  template <class F>
  bool for_each_member(od::value& v, F&& on_member) {
    od::object object;
    if (auto err = v.get_object().get(object)) return fail(err, v);
    for (auto member : object) {
      od::field f;
      if (auto err = std::move(member).get(f)) return fail(err, v);
      std::string_view key;
      bool escaped;
      if (!key_of(f, key, escaped)) return false;
      if (!on_member(f, key, escaped)) return false;
    }
    return true;
  }
  // Checks `v` and returns its exact bytes (whitespace around it excluded).
  bool take_raw(od::value& v, std::size_t depth, std::string_view& raw);
  // The end of a container that has just been iterated: the next token, whitespace trimmed.
  const char* end_after(od::value& v, const char* start);

  bool read_known(std::uint8_t id, std::string_view quoted_key, od::value& v, event& e,
                  std::optional<std::string_view>& name);
  bool read_text(od::value& v, std::optional<std::string_view>& out, const label& l,
                 std::size_t depth);
  bool read_integer(od::value& v, std::optional<std::int64_t>& out, const label& l,
                    std::size_t depth, bool floor_floats, bool accept_bool);
  bool read_category(od::value& v, std::string& out, const label& l, std::size_t depth);
  // An object-valued field (url_offset, pool): its members from the table, others checked.
  bool read_object(od::value& v, event& e, const wire_field& field, const label& l,
                   std::size_t depth);
  bool read_newsletter(od::value& v, std::optional<std::string>& out, const label& l,
                       std::size_t depth);
  bool add_custom(std::string_view quoted_key, od::value& v, std::size_t depth);
  // Reads a value of the wrong type: checks it and records the problem.
  bool wrong_type(od::value& v, std::string_view token, const label& l, std::size_t depth) {
    if (!check_value(v, depth)) return false;
    return bad(l, json_type_name(token[0]));
  }
  bool bad(const label& l, std::string_view got) {
    problems_.push_back({l.key, l.field, l.expected, got});
    return true;
  }
  void forget(std::uint8_t key) {
    if (problems_.empty()) return;
    std::erase_if(problems_, [key](const problem& p) { return p.key == key; });
  }
  static void set_custom_args(
      std::string& out, const std::vector<std::pair<std::string_view, std::string_view>>& args);

  const char* begin_;
  const char* end_;
  std::size_t bom_;
  std::size_t max_depth_;
  std::string failure_;
  std::vector<problem> problems_;                                      // per element
  std::vector<std::pair<std::string_view, std::string_view>> custom_;  // per element: key, value
  std::uint64_t known_seen_ = 0;  // per element: bit i = wire_fields[i] was read
  bool reshaped_ = false;         // per element: see event::reshaped
};

const char* body_reader::scan_string(const char* p, bool& escaped) const {
  escaped = false;
  // Stage 1 proved every string closes before the end, so memchr always finds a quote.
  auto find_quote = [this](const char* from) {
    return static_cast<const char*>(std::memchr(from, '"', static_cast<std::size_t>(end_ - from)));
  };
  const char* quote = find_quote(p);
  for (;;) {
    if (quote == nullptr) return nullptr;
    const char* bs =
        static_cast<const char*>(std::memchr(p, '\\', static_cast<std::size_t>(quote - p)));
    if (bs == nullptr) return quote;
    escaped = true;
    switch (bs[1]) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        p = bs + 2;
        break;
      case 'u':
        // Checked one by one, so we stop at the closing quote at the latest.
        for (int i = 2; i < 6; ++i) {
          if (!is_hex(bs[i])) return nullptr;
        }
        p = bs + 6;
        break;
      default:
        return nullptr;
    }
    // Only an escaped quote moves p past the quote we had found.
    if (p > quote) quote = find_quote(p);
  }
}

const char* body_reader::check_scalar(od::value& v) {
  const std::string_view t = trim_right(v.raw_json_token());
  const char* end = t.data() + t.size();
  switch (t[0]) {
    case '"': {
      bool escaped;
      const char* quote = scan_string(t.data() + 1, escaped);
      if (quote == nullptr) return fail_null(t.data(), "a string has an invalid escape");
      if (quote + 1 != end) return fail_null(quote + 1, "unexpected bytes after a string");
      od::raw_json_string consumed;
      if (v.get_raw_json_string().get(consumed) != simdjson::SUCCESS) {
        return fail_null(t.data(), "unexpected string");
      }
      return end;
    }
    case 't':
    case 'f':
    case 'n':
      if (t == "true" || t == "false" || t == "null") return end;
      return fail_null(t.data(), "invalid literal (expected true, false or null)");
    default:
      if (is_json_number(t)) return end;
      if (t[0] == '-' || is_digit(t[0])) return fail_null(t.data(), "invalid number");
      return fail_null(t.data(), "unexpected character");
  }
}

bool body_reader::check_value(od::value& v, std::size_t depth) {
  const std::string_view token = v.raw_json_token();
  switch (token[0]) {
    case '{': {
      // Depth is enforced here because On-Demand only checks it in development builds, and
      // because it bounds this function's recursion.
      if (depth > max_depth_) return too_deep(token.data());
      return for_each_member(v, [&](od::field& f, std::string_view, bool) {
        return check_value(f.value(), depth + 1);
      });
    }
    case '[': {
      if (depth > max_depth_) return too_deep(token.data());
      od::array array;
      if (auto err = v.get_array().get(array)) return fail(err, v);
      for (auto item : array) {
        od::value x;
        if (auto err = item.get(x)) return fail(err, v);
        if (!check_value(x, depth + 1)) return false;
      }
      return true;
    }
    default:
      return check_scalar(v) != nullptr;
  }
}

bool body_reader::key_of(od::field& f, std::string_view& key, bool& escaped) {
  const char* start = f.key().raw();
  const char* quote = scan_string(start, escaped);
  if (quote == nullptr) return fail(start, "an object key has an invalid escape");
  key = {start, static_cast<std::size_t>(quote - start)};
  return true;
}

const char* body_reader::end_after(od::value& v, const char* start) {
  const char* at = nullptr;
  // Inside the root array there is always a next token (at least the final `]`).
  if (v.current_location().get(at) != simdjson::SUCCESS || at < start) {
    return fail_null(start, "unexpected end of the body");
  }
  while (at > start && is_json_space(at[-1])) --at;
  return at;
}

bool body_reader::take_raw(od::value& v, std::size_t depth, std::string_view& raw) {
  const std::string_view token = v.raw_json_token();
  const char* end = nullptr;
  if (token[0] == '{' || token[0] == '[') {
    if (!check_value(v, depth)) return false;
    end = end_after(v, token.data());
  } else {
    end = check_scalar(v);
  }
  if (end == nullptr) return false;
  raw = {token.data(), static_cast<std::size_t>(end - token.data())};
  return true;
}

bool body_reader::read_text(od::value& v, std::optional<std::string_view>& out, const label& l,
                            std::size_t depth) {
  const std::string_view token = v.raw_json_token();
  switch (token[0]) {
    case '"': {
      std::string_view s;
      if (v.get_string().get(s) == simdjson::SUCCESS) {
        // Without escapes, the text as it stands in the body: the SQLite store finds the
        // email and sg_message_id values in `raw` by where they point (store::body_of).
        const bool as_sent = token.size() >= s.size() + 2 && token[s.size() + 1] == '"' &&
                             std::memchr(token.data() + 1, '\\', s.size()) == nullptr;
        out = as_sent ? token.substr(1, s.size()) : s;
        return true;
      }
      // simdjson refuses malformed escapes and unpaired surrogates alike; only the first
      // makes the body invalid JSON, the second only this element unusable.
      out.reset();
      bool escaped;
      if (scan_string(token.data() + 1, escaped) == nullptr) {
        return fail(token.data(), "a string has an invalid escape");
      }
      return bad({l.key, l.field, "must be valid Unicode"}, "an unpaired surrogate escape");
    }
    case 'n':
      // null reads as absent: SendGrid omits fields rather than nulling them, but a sender's
      // proxy might not, and an absent optional field is what null means.
      out.reset();
      return check_scalar(v) != nullptr;
    default:
      out.reset();
      return wrong_type(v, token, l, depth);
  }
}

bool body_reader::read_integer(od::value& v, std::optional<std::int64_t>& out, const label& l,
                               std::size_t depth, bool floor_floats, bool accept_bool) {
  const std::string_view token = v.raw_json_token();
  const char c = token[0];
  out.reset();
  if (c == '-' || is_digit(c)) {
    std::int64_t n;
    if (v.get_int64().get(n) == simdjson::SUCCESS) {
      out = n;
      return true;
    }
    // Not consumed: the enclosing iterator skips it. Tell bad JSON from a valid number that
    // just does not fit (400 digits, 1.5).
    const std::string_view t = trim_right(token);
    if (!is_json_number(t)) return fail(t.data(), "invalid number");
    if (floor_floats && has_fraction_or_exponent(t)) {
      double d;
      if (v.get_double().get(d) == simdjson::SUCCESS) {
        const double f = std::floor(d);
        if (f >= -0x1p63 && f < 0x1p63) {
          out = static_cast<std::int64_t>(f);
          return true;
        }
      }
    }
    return bad(l, has_fraction_or_exponent(t) && !floor_floats ? "a number with a fraction"
                                                               : "a number out of range");
  }
  switch (c) {
    case '"': {
      std::string_view s;
      if (v.get_string().get(s) != simdjson::SUCCESS) {
        bool escaped;
        if (scan_string(token.data() + 1, escaped) == nullptr) {
          return fail(token.data(), "a string has an invalid escape");
        }
        return bad(l, "a string with an unpaired surrogate escape");
      }
      std::int64_t n;
      const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size()) {
        return bad(l, "a string that is not an integer");
      }
      out = n;
      return true;
    }
    case 'n':
      return check_scalar(v) != nullptr;
    case 't':
    case 'f':
      if (accept_bool) {
        bool b;
        if (v.get_bool().get(b) != simdjson::SUCCESS) {
          return fail(token.data(), "invalid literal (expected true, false or null)");
        }
        out = b ? 1 : 0;
        return true;
      }
      return wrong_type(v, token, l, depth);
    default:
      return wrong_type(v, token, l, depth);
  }
}

bool body_reader::read_category(od::value& v, std::string& out, const label& l, std::size_t depth) {
  const std::string_view token = v.raw_json_token();
  out = "[]";
  switch (token[0]) {
    case '"': {
      // The string's bytes are valid JSON as they stand (escapes included), so wrapping them
      // is the normalisation; no unescape and re-escape round trip.
      const char* end = check_scalar(v);
      if (end == nullptr) return false;
      out.reserve(static_cast<std::size_t>(end - token.data()) + 2);
      out.assign(1, '[');
      out.append(token.data(), end);
      out += ']';
      return true;
    }
    case '[': {
      od::array array;
      if (auto err = v.get_array().get(array)) return fail(err, v);
      bool all_strings = true;
      for (auto item : array) {
        od::value x;
        if (auto err = item.get(x)) return fail(err, v);
        const std::string_view t = x.raw_json_token();
        if (t[0] == '"') {
          if (check_scalar(x) == nullptr) return false;
        } else {
          all_strings = false;
          if (!check_value(x, depth + 1)) return false;
        }
      }
      const char* end = end_after(v, token.data());
      if (end == nullptr) return false;
      if (!all_strings) return bad(l, "an array with an element that is not a string");
      // Copied as sent: an array of valid JSON strings already is the JSON text we store.
      out.assign(token.data(), end);
      return true;
    }
    case 'n':
      return check_scalar(v) != nullptr;
    default:
      return wrong_type(v, token, l, depth);
  }
}

bool body_reader::read_object(od::value& v, event& e, const wire_field& field, const label& l,
                              std::size_t depth) {
  const std::string_view token = v.raw_json_token();
  for (const member_field& m : field.members) {
    if (m.text != nullptr) (e.*m.text).reset();
    if (m.integer != nullptr) (e.*m.integer).reset();
  }
  switch (token[0]) {
    case '{':
      return for_each_member(v, [&](od::field& f, std::string_view key, bool) {
        const auto m = std::find_if(field.members.begin(), field.members.end(),
                                    [key](const member_field& x) { return x.name == key; });
        if (m == field.members.end()) return check_value(f.value(), depth + 1);
        const label ml{l.key, m->path, expectation(m->kind)};
        return m->kind == field_kind::text
                   ? read_text(f.value(), e.*m->text, ml, depth + 1)
                   : read_integer(f.value(), e.*m->integer, ml, depth + 1, false, false);
      });
    case 'n':
      return check_scalar(v) != nullptr;
    default:
      if (field.bare_integer != nullptr && (token[0] == '-' || is_digit(token[0]))) {
        return read_integer(v, e.*field.bare_integer, l, depth, false, false);
      }
      return wrong_type(v, token, l, depth);
  }
}

bool body_reader::read_newsletter(od::value& v, std::optional<std::string>& out, const label& l,
                                  std::size_t depth) {
  const std::string_view token = v.raw_json_token();
  out.reset();
  switch (token[0]) {
    case '{': {
      std::string_view raw;
      if (!take_raw(v, depth, raw)) return false;
      out.emplace(raw);
      return true;
    }
    case 'n':
      return check_scalar(v) != nullptr;
    default:
      return wrong_type(v, token, l, depth);
  }
}

bool body_reader::add_custom(std::string_view quoted_key, od::value& v, std::size_t depth) {
  std::string_view raw;
  if (!take_raw(v, depth, raw)) return false;
  // Last one wins, as for known keys; compared as sent (escaped), which is exact for the keys
  // real senders use.
  for (auto& [key, value] : custom_) {
    if (key == quoted_key) {
      value = raw;
      reshaped_ = true;
      return true;
    }
  }
  custom_.emplace_back(quoted_key, raw);
  return true;
}

bool body_reader::read_known(std::uint8_t id, std::string_view quoted_key, od::value& v, event& e,
                             std::optional<std::string_view>& name) {
  constexpr std::size_t depth = 3;  // root array, element object, this value
  const wire_field& k = wire_fields[id];
  const label l{id, k.name, expectation(k)};
  forget(id);
  if ((known_seen_ >> id) & 1U) reshaped_ = true;
  known_seen_ |= std::uint64_t{1} << id;
  switch (k.kind) {
    case field_kind::text:
      return read_text(v, e.*k.text, l, depth);
    case field_kind::trimmed_text: {
      auto& out = e.*k.text;
      if (!read_text(v, out, l, depth)) return false;
      if (out) {
        const std::string_view trimmed = trim(*out);
        if (trimmed.size() != out->size()) reshaped_ = true;
        out = trimmed;
      }
      return true;
    }
    case field_kind::event_name:
      // null is not absent here: an element must say what it is.
      if (v.raw_json_token()[0] == 'n') {
        name.reset();
        if (check_scalar(v) == nullptr) return false;
        return bad(l, "null");
      }
      return read_text(v, name, l, depth);
    case field_kind::integer:
      return read_integer(v, e.*k.integer, l, depth, false, false);
    case field_kind::timestamp:
      return read_integer(v, e.*k.integer, l, depth, true, false);
    case field_kind::flag:
      return read_integer(v, e.*k.integer, l, depth, false, true);
    case field_kind::category:
      return read_category(v, e.category, l, depth);
    case field_kind::object:
      return read_object(v, e, k, l, depth);
    case field_kind::newsletter:
      return read_newsletter(v, e.newsletter, l, depth);
    case field_kind::nested_args: {
      // v3 custom_args / SMTPAPI unique_args are normally flattened by SendGrid; when a sender
      // nests them anyway, their members are the custom args.
      reshaped_ = true;
      if (v.raw_json_token()[0] != '{') return add_custom(quoted_key, v, depth);
      return for_each_member(v, [&](od::field& f, std::string_view key, bool) {
        return add_custom({key.data() - 1, key.size() + 2}, f.value(), depth + 1);
      });
    }
  }
  return check_value(v, depth);
}

void body_reader::set_custom_args(
    std::string& out, const std::vector<std::pair<std::string_view, std::string_view>>& args) {
  std::size_t size = 2;
  for (const auto& [key, value] : args) size += key.size() + value.size() + 2;
  out.clear();
  out.reserve(size);
  out += '{';
  for (const auto& [key, value] : args) {
    if (out.size() > 1) out += ',';
    out += key;
    out += ':';
    out += value;
  }
  out += '}';
}

bool body_reader::element(od::value& v, std::size_t index, parsed_batch& batch) {
  constexpr std::size_t depth = 2;  // root array, this element
  const std::string_view token = v.raw_json_token();
  if (token[0] != '{') {
    std::string_view raw;
    if (!take_raw(v, depth, raw)) return false;
    batch.rejected.push_back(
        {raw, reason_text(index, "", "must be a JSON object", json_type_name(token[0]))});
    return true;
  }

  event& e = batch.events.emplace_back();
  problems_.clear();
  custom_.clear();
  known_seen_ = 0;
  reshaped_ = false;
  std::optional<std::string_view> name;
  const bool read = for_each_member(v, [&](od::field& f, std::string_view key, bool escaped) {
    std::uint8_t id = no_key;
    if (!escaped) {
      id = find_known_key(key);
    } else if (std::string_view plain; f.unescaped_key().get(plain) == simdjson::SUCCESS) {
      // "\u0065vent" is `event`; a key that does not unescape cannot be a known one.
      id = find_known_key(plain);
    }
    const std::string_view quoted_key{key.data() - 1, key.size() + 2};
    return id == no_key ? add_custom(quoted_key, f.value(), depth + 1)
                        : read_known(id, quoted_key, f.value(), e, name);
  });
  if (!read) return false;
  const char* end = end_after(v, token.data());
  if (end == nullptr) return false;
  e.raw = {token.data(), static_cast<std::size_t>(end - token.data())};

  if (name) {
    e.event_name = *name;
    e.kind = event_type_from_wire(*name);
  } else {
    problems_.push_back({no_key, "event", "is missing", ""});
  }
  if (!e.email && (!name || e.kind != event_type::account_status_change)) {
    problems_.push_back({no_key, "email", "is missing", ""});
  }
  if (!problems_.empty()) {
    const problem& p = problems_.front();
    batch.rejected.push_back({e.raw, reason_text(index, p.field, p.expected, p.got)});
    batch.events.pop_back();
    return true;
  }
  if (!custom_.empty()) set_custom_args(e.custom_args, custom_);
  e.reshaped = reshaped_;
  return true;
}

std::string not_an_array_message(od::document& doc) {
  const std::string not_json = "the body is not valid JSON: it must be a JSON array of events";
  od::json_type type;
  if (doc.type().get(type) != simdjson::SUCCESS) return not_json;
  // type() only looks at the first byte: "nope" starts like null. Read the scalar to be sure.
  bool flag = false;
  std::string_view text;
  double number = 0;
  if ((type == od::json_type::null && (doc.is_null().get(flag) != simdjson::SUCCESS || !flag)) ||
      (type == od::json_type::boolean && doc.get_bool().get(flag) != simdjson::SUCCESS) ||
      (type == od::json_type::string && doc.get_string().get(text) != simdjson::SUCCESS) ||
      (type == od::json_type::number && doc.get_double().get(number) != simdjson::SUCCESS)) {
    return not_json;
  }
  switch (type) {
    case od::json_type::object:
      return "the body must be a JSON array of events, not an object";
    case od::json_type::string:
      return "the body must be a JSON array of events, not a string";
    case od::json_type::number:
      return "the body must be a JSON array of events, not a number";
    case od::json_type::boolean:
      return "the body must be a JSON array of events, not a boolean";
    case od::json_type::null:
      return "the body must be a JSON array of events, not null";
    case od::json_type::array:
      break;
  }
  return "the body must be a JSON array of events";
}

std::string stage1_message(error_code err) {
  switch (err) {
    case simdjson::EMPTY:
      return "the body is empty; it must be a JSON array of events";
    case simdjson::UTF8_ERROR:
      return "the body is not valid UTF-8";
    case simdjson::UNCLOSED_STRING:
      return "the body is not valid JSON: a string is not closed (is the body truncated?)";
    case simdjson::UNESCAPED_CHARS:
      return "the body is not valid JSON: a string contains an unescaped control character";
    case simdjson::CAPACITY:
      return "the body is larger than the JSON parser can handle";
    case simdjson::MEMALLOC:
      return "the server ran out of memory while parsing the body";
    default:
      return std::string("the body is not valid JSON: ") + simdjson::error_message(err);
  }
}

}  // namespace

namespace {

// Calls f on every string view of an event that may point into the parser's buffer.
template <class F>
void for_each_text(event& e, F&& f) {
  f(e.event_name);
  for (const text_member m : text_members) {
    if (auto& field = e.*m) f(*field);
  }
}

// Moves every string that lives in the parser's buffer into one arena, so the parser can go.
void move_strings_to_arena(std::vector<event>& events, std::string_view body, std::string& arena) {
  const auto outside_body = [&](std::string_view v) {
    return !v.empty() && (v.data() < body.data() || v.data() >= body.data() + body.size());
  };
  std::size_t total = 0;
  for (auto& e : events) {
    for_each_text(e, [&](std::string_view& v) {
      if (outside_body(v)) total += v.size();
    });
  }
  arena.clear();
  arena.reserve(total);  // exact: appends below never reallocate, so views stay valid
  for (auto& e : events) {
    for_each_text(e, [&](std::string_view& v) {
      if (!outside_body(v)) return;
      const std::size_t at = arena.size();
      arena.append(v);
      v = std::string_view(arena.data() + at, v.size());
    });
  }
}

}  // namespace

std::variant<parsed_batch, batch_error> parse_batch(std::string_view body) {
  return parse_owned_batch(std::string(body));
}

std::variant<parsed_batch, batch_error> parse_owned_batch(std::string body) {
  parsed_batch batch;
  batch.buffers_ = std::make_unique<parsed_batch::buffers>();
  auto& b = *batch.buffers_;
  b.owned = std::move(body);
  // simdjson reads up to SIMDJSON_PADDING bytes past the end; make them ours (and zero).
  const std::size_t size = b.owned.size();
  b.owned.append(simdjson::SIMDJSON_PADDING, '\0');
  b.owned.resize(size);
  if (std::string_view(b.owned).starts_with("\xEF\xBB\xBF")) b.bom = 3;
  const std::size_t bom = b.bom;
  const std::string_view json = b.json();
  const simdjson::padded_string_view padded(json.data(), json.size(), b.owned.capacity() - bom);

  if (auto err = b.parser->iterate(padded).get(b.doc)) return batch_error{stage1_message(err)};
  od::array array;
  if (auto err = b.doc.get_array().get(array)) {
    if (err == simdjson::INCORRECT_TYPE) return batch_error{not_an_array_message(b.doc)};
    if (err == simdjson::INCOMPLETE_ARRAY_OR_OBJECT) {
      return batch_error{
          "the body is not a complete JSON array: it does not end with `]` (truncated, or "
          "followed by other bytes)"};
    }
    return batch_error{stage1_message(err)};
  }

  const char* begin = json.data();
  body_reader reader(begin, begin + json.size(), bom, b.parser->max_depth());
  // Real events are 250-500 bytes. Reserving for 256-byte events avoids regrowth (which moves
  // every 1 KiB event) at the price of address space that is never touched.
  batch.events.reserve(json.size() / 256 + 1);
  std::size_t index = 0;
  for (auto item : array) {
    od::value v;
    if (auto err = item.get(v)) {
      const char* at = nullptr;
      if (b.doc.current_location().get(at) != simdjson::SUCCESS) at = nullptr;
      reader.fail(at, err == simdjson::TAPE_ERROR
                          ? "a comma, colon, bracket or brace is missing or misplaced"
                          : simdjson::error_message(err));
      return batch_error{std::move(reader.failure())};
    }
    if (!reader.element(v, index++, batch)) return batch_error{std::move(reader.failure())};
  }

  // The root array is closed; anything after it (a second array, junk) is not one JSON text.
  const char* rest = nullptr;
  const error_code at_end = b.doc.current_location().get(rest);
  if (at_end != simdjson::OUT_OF_BOUNDS) {
    if (at_end == simdjson::SUCCESS) {
      return batch_error{"the body has bytes after the closing `]` of the array, at byte " +
                         std::to_string(static_cast<std::size_t>(rest - begin) + bom)};
    }
    return batch_error{stage1_message(at_end)};
  }
  move_strings_to_arena(batch.events, json, b.arena);
  b.doc = od::document();
  b.parser.reset();
  return batch;
}

}  // namespace sgs::events
