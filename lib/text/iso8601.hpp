// ISO-8601 UTC times as the stores and the API write them: 2026-11-27T14:15:23.123Z.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sgs::text {

// Formats a time as ISO-8601 UTC with milliseconds: 2026-11-27T14:15:23.123Z.
std::string iso8601_utc(std::chrono::system_clock::time_point t);

// Reads "YYYY-MM-DDTHH:MM:SS" at the start of `text` (what iso8601_utc writes, and what
// SendGrid's timestamps start with), plus the milliseconds of a ".mmm" after it; further
// digits and the zone suffix are ignored, the time is taken as UTC. nullopt when the text
// does not start like that.
std::optional<std::chrono::system_clock::time_point> parse_iso8601_utc(std::string_view text);

}  // namespace sgs::text
