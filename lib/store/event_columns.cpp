// The event column list, built from the one table of event_columns.hpp.
#include "store/event_columns.hpp"

namespace sgs::store {

std::string event_column_list() {
  std::string out;
  for (const auto& c : event_columns) {
    if (!out.empty()) out += ", ";
    out += c.name;
  }
  return out;
}

}  // namespace sgs::store
