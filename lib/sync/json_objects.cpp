// simdjson DOM parsing of SendGrid responses into object rows, one mapping per collection and API.
#include "sync/json_objects.hpp"

#include <simdjson.h>

#include <optional>

#include "sync/json_cells.hpp"
#include "sync/json_text.hpp"

namespace sgs::sync {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using store::object_row;
namespace lc = store::list_col;
namespace sc = store::segment_col;
namespace cc = store::campaign_col;
namespace rc = store::recipient_col;

std::optional<element> field(element obj, std::string_view key) {
  element e;
  if (obj.at_key(key).get(e) != simdjson::SUCCESS) return std::nullopt;
  return e;
}

// Text columns take strings as they are; numbers and booleans as their JSON text; arrays and
// objects as minified JSON; null leaves the cell null.
void set_text(object_row& row, int col, std::optional<element> e) {
  if (!e) return;
  switch (e->type()) {
    case element_type::NULL_VALUE:
      return;
    case element_type::STRING:
      row.text(col, std::string_view(*e));
      return;
    default:
      row.owned(col) = simdjson::minify(*e);
      return;
  }
}

void set_int(object_row& row, int col, std::optional<element> e) { set_int_cell(row, col, e); }

// JSON columns (arrays, objects): minified; null leaves the cell null.
void set_json(object_row& row, int col, std::optional<element> e) {
  if (!e || e->is_null()) return;
  row.owned(col) = simdjson::minify(*e);
}

// The id as text: UUID strings as they are, legacy integer ids as decimal. False when absent.
bool set_id(object_row& row, int col, std::optional<element> e) {
  if (!e) return false;
  std::string_view s;
  std::int64_t i;
  std::uint64_t u;
  if (e->get_string().get(s) == simdjson::SUCCESS) {
    if (s.empty()) return false;
    row.text(col, s);
    return true;
  }
  if (e->get_int64().get(i) == simdjson::SUCCESS) {
    row.owned(col) = std::to_string(i);
    return true;
  }
  if (e->get_uint64().get(u) == simdjson::SUCCESS) {
    row.owned(col) = std::to_string(u);
    return true;
  }
  return false;
}

bool map_list(element o, api_kind api, object_row& row) {
  if (!set_id(row, lc::id, field(o, "id"))) return false;
  set_text(row, lc::name, field(o, "name"));
  set_int(row, lc::contact_count,
          field(o, api == api_kind::legacy ? "recipient_count" : "contact_count"));
  return true;
}

bool map_segment(element o, api_kind api, object_row& row) {
  if (!set_id(row, sc::id, field(o, "id"))) return false;
  set_text(row, sc::name, field(o, "name"));
  if (api == api_kind::legacy) {
    set_int(row, sc::contacts_count, field(o, "recipient_count"));
    if (auto list = field(o, "list_id"); list && !list->is_null()) {
      row.owned(sc::parent_list_ids) = "[" + simdjson::minify(*list) + "]";
    }
    set_json(row, sc::conditions, field(o, "conditions"));
    return true;
  }
  set_int(row, sc::contacts_count, field(o, "contacts_count"));
  set_json(row, sc::parent_list_ids, field(o, "parent_list_ids"));
  set_text(row, sc::query_version, field(o, "query_version"));
  if (auto status = field(o, "status"); status && status->is_object()) {
    set_text(row, sc::query_validation, field(*status, "query_validation"));
  }
  set_text(row, sc::created_at, field(o, "created_at"));
  set_text(row, sc::updated_at, field(o, "updated_at"));
  set_text(row, sc::sample_updated_at, field(o, "sample_updated_at"));
  set_text(row, sc::next_sample_update, field(o, "next_sample_update"));
  return true;
}

bool map_campaign(element o, api_kind api, object_row& row) {
  if (!set_id(row, cc::id, field(o, "id"))) return false;
  set_text(row, cc::name, field(o, api == api_kind::legacy ? "title" : "name"));
  set_text(row, cc::status, field(o, "status"));
  set_json(row, cc::categories, field(o, "categories"));
  set_text(row, cc::send_at, field(o, "send_at"));
  set_int(row, cc::is_abtest, field(o, "is_abtest"));
  set_json(row, cc::abtest, field(o, "abtest"));
  set_text(row, cc::created_at, field(o, "created_at"));
  set_text(row, cc::updated_at, field(o, "updated_at"));
  // Legacy campaigns carry these at the top; a full Single Send under send_to / email_config.
  element to = o;
  element config = o;
  if (auto s = field(o, "send_to"); s && s->is_object()) to = *s;
  if (auto e = field(o, "email_config"); e && e->is_object()) config = *e;
  set_json(row, cc::list_ids, field(to, "list_ids"));
  set_json(row, cc::segment_ids, field(to, "segment_ids"));
  set_text(row, cc::subject, field(config, "subject"));
  set_int(row, cc::sender_id, field(config, "sender_id"));
  set_int(row, cc::suppression_group_id, field(config, "suppression_group_id"));
  set_text(row, cc::custom_unsubscribe_url, field(config, "custom_unsubscribe_url"));
  set_text(row, cc::ip_pool, field(config, "ip_pool"));
  set_text(row, cc::editor, field(config, "editor"));
  return true;
}

// Contact fields by lower-case name, for JSON contacts (NDJSON export, legacy recipients).
int contact_column(std::string_view key) {
  static constexpr std::pair<std::string_view, int> names[] = {
      {"id", rc::id},
      {"contact_id", rc::id},
      {"email", rc::email},
      {"first_name", rc::first_name},
      {"last_name", rc::last_name},
      {"unique_name", rc::unique_name},
      {"phone_number_id", rc::phone_number_id},
      {"external_id", rc::external_id},
      {"anonymous_id", rc::anonymous_id},
      {"alternate_emails", rc::alternate_emails},
      {"address_line_1", rc::address_line_1},
      {"address_line_2", rc::address_line_2},
      {"city", rc::city},
      {"state_province_region", rc::state_province_region},
      {"country", rc::country},
      {"postal_code", rc::postal_code},
      {"phone_number", rc::phone_number},
      {"whatsapp", rc::whatsapp},
      {"line", rc::line},
      {"facebook", rc::facebook},
      {"list_ids", rc::list_ids},
      {"segment_ids", rc::segment_ids},
      {"created_at", rc::created_at},
      {"updated_at", rc::updated_at},
      {"last_clicked", rc::last_clicked},
      {"last_emailed", rc::last_emailed},
      {"last_opened", rc::last_opened},
      {"custom_fields", rc::custom_fields},
  };
  for (const auto& [name, col] : names) {
    if (name.size() != key.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < key.size() && same; ++i) {
      same = name[i] == std::tolower(static_cast<unsigned char>(key[i]));
    }
    if (same) return col;
  }
  return -1;
}

void append_custom(std::string& out, std::string_view name, element value) {
  if (value.is_null()) return;
  if (out.size() > 1) out += ',';
  append_json_string(out, name);
  out += ':';
  out += simdjson::minify(value);
}

// A contact object: documented fields to their columns; custom_fields, whatever its shape
// (an object of name -> value on Marketing Campaigns, an array of {name, value} on legacy),
// and any undocumented top-level key, into the custom_fields object.
bool map_contact(element o, object_row& row) {
  std::string& custom = row.owned(rc::custom_fields);
  custom = "{";
  bool has_id = false;
  for (auto [key, value] : simdjson::dom::object(o)) {
    const int col = contact_column(key);
    if (col == rc::id) {
      if (!has_id) has_id = set_id(row, rc::id, value);
    } else if (col == rc::custom_fields) {
      if (value.is_object()) {
        for (auto [k, v] : simdjson::dom::object(value)) append_custom(custom, k, v);
      } else if (value.is_array()) {
        for (element f : simdjson::dom::array(value)) {
          std::string_view name;
          element v;
          if (!f.is_object() || f["name"].get_string().get(name) != simdjson::SUCCESS) continue;
          if (f["value"].get(v) == simdjson::SUCCESS) append_custom(custom, name, v);
        }
      }
    } else if (col == rc::alternate_emails || col == rc::list_ids || col == rc::segment_ids) {
      set_json(row, col, value);
    } else if (col >= 0) {
      set_text(row, col, value);
    } else if (key != "_metadata") {
      append_custom(custom, key, value);
    }
  }
  custom += '}';
  return has_id;
}

std::string_view items_key(store::collection c, api_kind api) {
  using store::collection;
  const bool legacy = api == api_kind::legacy;
  switch (c) {
    case collection::lists:
      return legacy ? "lists" : "result";
    case collection::segments:
      return legacy ? "segments" : "results";
    case collection::campaigns:
      return "result";
    case collection::recipients:
      return legacy ? "recipients" : "result";
    default:  // the account collections: sync/collections/
      break;
  }
  return "result";
}

}  // namespace

std::string_view api_kind_name(api_kind a) {
  return a == api_kind::legacy ? "legacy" : "marketing";
}

struct json_objects::impl {
  simdjson::dom::parser parser;
  simdjson::padded_string buffer;
};

json_objects::json_objects() : impl_(std::make_unique<impl>()) {}
json_objects::~json_objects() = default;

page json_objects::parse_page(store::collection c, api_kind api, std::string_view body,
                              object_row& row,
                              const std::function<void(const object_row&)>& stage) {
  page out;
  element doc;
  if (auto err = impl_->parser.parse(body.data(), body.size(), true).get(doc); err) {
    out.error =
        std::string("the response is not valid JSON (") + simdjson::error_message(err) + ")";
    return out;
  }
  simdjson::dom::array items;
  // Legacy /v3/campaigns answers {"result": [...]}; some endpoints a bare array.
  if (doc.is_array()) {
    items = simdjson::dom::array(doc);
  } else if (!doc.is_object() ||
             doc[items_key(c, api)].get_array().get(items) != simdjson::SUCCESS) {
    out.error = "the response has no \"" + std::string(items_key(c, api)) + "\" array";
    return out;
  }
  for (element item : items) {
    row.clear();
    if (!item.is_object()) {
      ++out.skipped;
      continue;
    }
    bool has_id = false;
    switch (c) {
      case store::collection::lists:
        has_id = map_list(item, api, row);
        break;
      case store::collection::segments:
        has_id = map_segment(item, api, row);
        break;
      case store::collection::campaigns:
        has_id = map_campaign(item, api, row);
        break;
      case store::collection::recipients:
        has_id = map_contact(item, row);
        break;
      default:  // the account collections: sync/collections/
        break;
    }
    if (!has_id) {
      ++out.skipped;
      continue;
    }
    row.owned(columns(c).size() - 1) = simdjson::minify(item);  // raw is the last column
    stage(row);
    ++out.items;
  }
  out.next = metadata_next(doc);
  out.ok = true;
  return out;
}

export_job json_objects::parse_export(std::string_view body) {
  export_job out;
  element doc;
  if (auto err = impl_->parser.parse(body.data(), body.size(), true).get(doc); err) {
    out.error = std::string("the export job response is not valid JSON (") +
                simdjson::error_message(err) + ")";
    return out;
  }
  if (!doc.is_object()) {
    out.error = "the export job response is not a JSON object";
    return out;
  }
  std::string_view s;
  if (doc["id"].get_string().get(s) == simdjson::SUCCESS) out.id = s;
  if (doc["status"].get_string().get(s) == simdjson::SUCCESS) out.status = s;
  if (doc["message"].get_string().get(s) == simdjson::SUCCESS) out.message = s;
  std::int64_t count = 0;
  if (doc["contact_count"].get_int64().get(count) == simdjson::SUCCESS) out.contact_count = count;
  simdjson::dom::array urls;
  if (doc["urls"].get_array().get(urls) == simdjson::SUCCESS) {
    for (element u : urls) {
      if (u.get_string().get(s) == simdjson::SUCCESS && !s.empty()) out.urls.emplace_back(s);
    }
  }
  out.ok = true;
  return out;
}

bool json_objects::parse_contact_line(std::string_view line, object_row& row, bool& has_id,
                                      std::string& error) {
  row.clear();
  has_id = false;
  element doc;
  if (auto err = impl_->parser.parse(line.data(), line.size(), true).get(doc);
      err || !doc.is_object()) {
    error =
        err ? std::string("an NDJSON line is not valid JSON (") + simdjson::error_message(err) + ")"
            : "an NDJSON line is not a JSON object";
    return false;
  }
  has_id = map_contact(doc, row);
  if (has_id) row.owned(rc::raw) = simdjson::minify(doc);
  return true;
}

void set_int_cell(store::object_row& row, int col, std::optional<simdjson::dom::element> e) {
  if (!e) return;
  std::int64_t i;
  bool b;
  double d;
  std::string_view s;
  if (e->get_int64().get(i) == simdjson::SUCCESS) {
    row.integer(col, i);
  } else if (e->get_bool().get(b) == simdjson::SUCCESS) {
    row.integer(col, b ? 1 : 0);
  } else if (e->get_double().get(d) == simdjson::SUCCESS) {
    row.integer(col, static_cast<std::int64_t>(d));
  } else if (e->get_string().get(s) == simdjson::SUCCESS && !s.empty()) {
    char* end = nullptr;
    const std::string text(s);
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (end && *end == '\0') row.integer(col, v);
  }
}

std::string metadata_next(simdjson::dom::element doc) {
  simdjson::dom::element meta;
  std::string_view next;
  if (doc.is_object() && doc["_metadata"].get(meta) == simdjson::SUCCESS && meta.is_object() &&
      meta["next"].get_string().get(next) == simdjson::SUCCESS) {
    return std::string(next);
  }
  return {};
}

}  // namespace sgs::sync
