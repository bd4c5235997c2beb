// Joins API paths to api_base, encodes path segments and keeps `_metadata.next` links on
// api_base (pure).
#include "sendgrid/paging.hpp"

namespace sgs::sendgrid {

std::string api_url(std::string_view api_base, std::string_view path_and_query) {
  std::string out(api_base);
  if (!path_and_query.empty() && path_and_query.front() != '/') out += '/';
  out += path_and_query;
  return out;
}

std::string path_segment(std::string_view value) {
  static constexpr char hex[] = "0123456789ABCDEF";
  // "." and ".." would be removed as dot-segments (libcurl normalises them by default).
  if (value == "." || value == "..") return value == "." ? "%2E" : "%2E%2E";
  std::string out;
  out.reserve(value.size());
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0x0F];
    }
  }
  return out;
}

std::optional<std::string> next_page_url(std::string_view api_base, std::string_view next) {
  if (next.empty()) return std::nullopt;
  if (next.front() == '/') return api_url(api_base, next);
  const auto scheme = next.find("://");
  if (scheme == std::string_view::npos) return std::nullopt;
  // Same origin: api_base followed by the path (the character after it must start the path,
  // so "https://api.sendgrid.com.evil" is not taken for "https://api.sendgrid.com").
  if (next.size() > api_base.size() && next.substr(0, api_base.size()) == api_base &&
      (next[api_base.size()] == '/' || next[api_base.size()] == '?')) {
    return std::string(next);
  }
  const auto path = next.find('/', scheme + 3);
  if (path == std::string_view::npos) return std::nullopt;
  return api_url(api_base, next.substr(path));
}

}  // namespace sgs::sendgrid
