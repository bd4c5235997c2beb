// What a long migration reports while it runs (`sendgrid-source migrate` prints it; the daemon
// logs it and tells systemd it is still starting).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace sgs::store {

struct migration_step {
  std::string_view migration;  // "0006_index_segments"
  std::size_t done = 0;        // statements of it done, including this one
  std::size_t total = 0;
  std::string statement;  // the first words of this statement
  double seconds = 0;     // how long this statement took
};

using migration_progress = std::function<void(const migration_step&)>;

}  // namespace sgs::store
