// Parses SendGrid JSON responses (pages of lists, segments, campaigns, legacy recipients;
// export jobs; NDJSON contacts) into object rows. The only translation unit of lib/sync that
// includes simdjson.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/object_store.hpp"

namespace sgs::sync {

enum class api_kind { marketing, legacy };
std::string_view api_kind_name(api_kind a);  // "marketing" | "legacy" (the source_api column)

struct page {
  bool ok = false;
  std::string error;  // when !ok: what is wrong with the body
  std::int64_t items = 0;
  std::int64_t skipped = 0;  // items without an id
  std::string next;          // _metadata.next ("" on the last page or when absent)
};

struct export_job {
  bool ok = false;
  std::string error;
  std::string id;
  std::string status;   // pending | ready | failure (as SendGrid says it)
  std::string message;  // SendGrid's text on failure
  std::vector<std::string> urls;
  std::optional<std::int64_t> contact_count;  // when SendGrid states it
};

// Reuses one simdjson parser (and its buffers) across pages. Not thread-safe.
class json_objects {
 public:
  json_objects();
  ~json_objects();
  json_objects(const json_objects&) = delete;
  json_objects& operator=(const json_objects&) = delete;

  // A page of collection `c` from `api`: calls `stage` for each item with its row filled.
  // `row` must be of collection `c`; its cells borrow from the parser until the next call.
  page parse_page(store::collection c, api_kind api, std::string_view body, store::object_row& row,
                  const std::function<void(const store::object_row&)>& stage);

  // POST /v3/marketing/contacts/exports -> {"id": ...}; GET .../exports/{id} -> status, urls.
  export_job parse_export(std::string_view body);

  // One line of an NDJSON export: a contact object. False (with `error`) when the line is not
  // a JSON object; true with `row` untouched-but-cleared and *has_id false when it has no id.
  bool parse_contact_line(std::string_view line, store::object_row& row, bool& has_id,
                          std::string& error);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sgs::sync
