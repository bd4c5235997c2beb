// ISO-8601 UTC formatting and parsing (to the second).
#include "text/iso8601.hpp"

#include <cstdio>
#include <ctime>

namespace sgs::text {

std::string iso8601_utc(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

std::optional<std::chrono::system_clock::time_point> parse_iso8601_utc(std::string_view text) {
  std::tm tm{};
  const std::string s(text.substr(0, 19));
  if (!strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return std::nullopt;
  auto t = std::chrono::system_clock::from_time_t(timegm(&tm));
  if (text.size() >= 23 && text[19] == '.') {
    int ms = 0;
    for (char c : text.substr(20, 3)) {
      if (c < '0' || c > '9') return t;
      ms = ms * 10 + (c - '0');
    }
    t += std::chrono::milliseconds(ms);
  }
  return t;
}

}  // namespace sgs::text
