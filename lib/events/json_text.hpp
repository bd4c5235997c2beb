// Writing JSON string literals (RFC 8259 escaping), shared by everything that builds JSON text.
#pragma once

#include <string>
#include <string_view>

namespace sgs::events {

// Appends `s` as a JSON string literal, quotes included: quote, backslash and control
// characters escaped, every other byte copied as it is.
void append_json_string(std::string& out, std::string_view s);

}  // namespace sgs::events
