// Maps the contact export's CSV records to recipients rows by header name (pure).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/object_store.hpp"

namespace sgs::sync {

// The export's header names the columns in UPPER CASE ("EMAIL", "FIRST_NAME", ...,
// "CONTACT_ID"); their order and set are not fixed, so each is looked up by name once, at
// the header. Columns that are not documented contact fields are the account's custom
// fields: they go into custom_fields as a JSON object of strings (empty cells left out).
// LIST_IDS, SEGMENT_IDS and ALTERNATE_EMAILS become JSON arrays. `raw` is a JSON object of
// every non-empty cell under its header name.
class contact_csv_mapper {
 public:
  // False (with `error` set) when the header has no CONTACT_ID (or ID) column.
  bool set_header(std::span<const std::string_view> header, std::string& error);
  bool has_header() const { return !kinds_.empty(); }
  // Fills `row`; false when the record has no contact id (the caller counts it as skipped).
  // `row`'s text cells borrow from `record`.
  bool map(std::span<const std::string_view> record, store::object_row& row) const;

 private:
  enum : int { custom = -1, array_base = 1000 };
  std::vector<int> kinds_;           // per header column: recipient_col, custom, or array_base+col
  std::vector<std::string> quoted_;  // per header column: the JSON-quoted upper-case name and ":"
  int id_column_ = -1;
};

}  // namespace sgs::sync
