// Filling object-row cells from simdjson values, shared by the translation units of lib/sync
// that parse SendGrid responses (json_objects.cpp, collections/account_sync.cpp).
#pragma once

#include <simdjson.h>

#include <optional>
#include <string>

#include "store/object_store.hpp"

namespace sgs::sync {

// Integer cells: integers and booleans; numeric strings too (legacy APIs mix them); doubles
// truncated. Absent, null or anything else leaves the cell null.
void set_int_cell(store::object_row& row, int col, std::optional<simdjson::dom::element> e);

// A page's `_metadata.next` link; "" when there is none.
std::string metadata_next(simdjson::dom::element doc);

}  // namespace sgs::sync
