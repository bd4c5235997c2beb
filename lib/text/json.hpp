// Writing JSON text by hand (RFC 8259 string escaping), shared by everything that builds JSON.
#pragma once

#include <string>
#include <string_view>

namespace sgs::text {

// Appends `s` as a JSON string literal, quotes included: quote, backslash and control
// characters escaped, every other byte copied as it is.
void append_json_string(std::string& out, std::string_view s);

// `s` as a JSON string literal, quotes included.
std::string json_quote(std::string_view s);

// The body of an error answer: {"error":"<message>"}.
std::string json_error(std::string_view message);

}  // namespace sgs::text
