// JSON string escaping (RFC 8259: quote, backslash and control characters).
#include "sync/json_text.hpp"

namespace sgs::sync {

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;  // start of the current run of bytes that need no escape
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

void append_json_string_array(std::string& out, std::string_view cell) {
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  cell = trim(cell);
  if (!cell.empty() && cell.front() == '[' && cell.back() == ']') {
    out += cell;
    return;
  }
  out += '[';
  bool first = true;
  while (!cell.empty()) {
    const auto comma = cell.find(',');
    const auto item = trim(cell.substr(0, comma));
    if (!item.empty()) {
      if (!first) out += ',';
      first = false;
      append_json_string(out, item);
    }
    if (comma == std::string_view::npos) break;
    cell.remove_prefix(comma + 1);
  }
  out += ']';
}

}  // namespace sgs::sync
