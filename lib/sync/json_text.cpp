// Building JSON arrays of strings out of CSV cells (escaping lives in events/json_text).
#include "sync/json_text.hpp"

namespace sgs::sync {

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
