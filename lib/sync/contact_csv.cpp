// Header lookup and per-record mapping of contact export CSV files.
#include "sync/contact_csv.hpp"

#include <utility>

#include "sync/json_text.hpp"

namespace sgs::sync {

namespace {

namespace rc = store::recipient_col;

// Documented export columns (upper case) and where they go.
constexpr std::pair<std::string_view, int> known_columns[] = {
    {"CONTACT_ID", rc::id},
    {"EMAIL", rc::email},
    {"FIRST_NAME", rc::first_name},
    {"LAST_NAME", rc::last_name},
    {"UNIQUE_NAME", rc::unique_name},
    {"PHONE_NUMBER_ID", rc::phone_number_id},
    {"EXTERNAL_ID", rc::external_id},
    {"ANONYMOUS_ID", rc::anonymous_id},
    {"ALTERNATE_EMAILS", rc::alternate_emails},
    {"ADDRESS_LINE_1", rc::address_line_1},
    {"ADDRESS_LINE_2", rc::address_line_2},
    {"CITY", rc::city},
    {"STATE_PROVINCE_REGION", rc::state_province_region},
    {"COUNTRY", rc::country},
    {"POSTAL_CODE", rc::postal_code},
    {"PHONE_NUMBER", rc::phone_number},
    {"WHATSAPP", rc::whatsapp},
    {"LINE", rc::line},
    {"FACEBOOK", rc::facebook},
    {"LIST_IDS", rc::list_ids},
    {"SEGMENT_IDS", rc::segment_ids},
    {"CREATED_AT", rc::created_at},
    {"UPDATED_AT", rc::updated_at},
};

bool is_array_column(int col) {
  return col == rc::alternate_emails || col == rc::list_ids || col == rc::segment_ids;
}

std::string upper_trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  // A UTF-8 byte order mark before the first header.
  if (s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

bool contact_csv_mapper::set_header(std::span<const std::string_view> header, std::string& error) {
  kinds_.clear();
  quoted_.clear();
  id_column_ = -1;
  int plain_id = -1;
  for (std::size_t i = 0; i < header.size(); ++i) {
    const std::string name = upper_trimmed(header[i]);
    int kind = custom;
    for (const auto& [known, col] : known_columns) {
      if (name == known) kind = is_array_column(col) ? array_base + col : col;
    }
    if (kind == rc::id && id_column_ < 0) id_column_ = static_cast<int>(i);
    if (name == "ID" && plain_id < 0) plain_id = static_cast<int>(i);
    kinds_.push_back(kind);
    std::string q;
    append_json_string(q, name);
    q += ':';
    quoted_.push_back(std::move(q));
  }
  if (id_column_ < 0 && plain_id >= 0) {
    id_column_ = plain_id;
    kinds_[static_cast<std::size_t>(plain_id)] = rc::id;
  }
  if (id_column_ < 0) {
    kinds_.clear();
    error = "the contact export has no CONTACT_ID column (header: ";
    for (std::size_t i = 0; i < header.size() && i < 30; ++i)
      error += (i ? "," : "") + std::string(header[i]);
    error += ")";
    return false;
  }
  return true;
}

bool contact_csv_mapper::map(std::span<const std::string_view> record,
                             store::object_row& row) const {
  row.clear();
  const auto id_at = static_cast<std::size_t>(id_column_);
  if (id_at >= record.size() || record[id_at].empty()) return false;
  std::string& raw = row.owned(rc::raw);
  std::string& custom_fields = row.owned(rc::custom_fields);
  raw += '{';
  custom_fields += '{';
  const std::size_t n = std::min(record.size(), kinds_.size());
  for (std::size_t i = 0; i < n; ++i) {
    const std::string_view v = record[i];
    if (v.empty()) continue;
    if (raw.size() > 1) raw += ',';
    raw += quoted_[i];
    append_json_string(raw, v);
    const int kind = kinds_[i];
    if (kind == custom) {
      if (custom_fields.size() > 1) custom_fields += ',';
      custom_fields += quoted_[i];
      append_json_string(custom_fields, v);
    } else if (kind >= array_base) {
      append_json_string_array(row.owned(kind - array_base), v);
    } else {
      row.text(kind, v);
    }
  }
  raw += '}';
  custom_fields += '}';
  return true;
}

}  // namespace sgs::sync
