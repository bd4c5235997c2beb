// Small ASCII string helpers shared by the modules that read headers, config text and
// secrets (no locale: protocol text is ASCII whatever the machine's locale).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sgs::text {

// Equal ignoring ASCII case (HTTP header names, auth schemes, codings).
bool iequals(std::string_view a, std::string_view b);

// `s` without leading and trailing bytes from `blanks`; the default is HTTP's optional
// whitespace (space and tab, RFC 9110 §5.6.3).
std::string_view trim(std::string_view s, std::string_view blanks = " \t");

// At most `max` bytes of `value` for an error message sent back or logged: control bytes
// become '?', and "..." marks a cut. Not quoted or escaped: the caller's JSON or log
// rendering does that.
std::string excerpt(std::string_view value, std::size_t max = 64);

}  // namespace sgs::text
