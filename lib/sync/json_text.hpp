// Appending JSON text (strings, arrays of strings) while building raw and custom_fields values.
#pragma once

#include <string>
#include <string_view>

#include "text/json.hpp"

namespace sgs::sync {

using text::append_json_string;  // quotes and escapes one string

// A CSV cell that holds several values as a JSON array of strings: kept as it is when it is
// already a JSON array ("[...]"), else split on commas, each value trimmed ("a, b" ->
// ["a","b"]); "" -> [].
void append_json_string_array(std::string& out, std::string_view cell);

}  // namespace sgs::sync
