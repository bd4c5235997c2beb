// What a SIGHUP may change in a running daemon, decided by comparing two configurations
// (pure: no I/O).
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace sgs::config {

struct reload_plan {
  bool level_changed = false;
  // Sources whose webhook_verification_key, webhook_basic_auth or webhook_max_age_seconds
  // changed: their webhook authentication is swapped.
  std::vector<std::string> auth_changed;
  // Keys that changed but cannot take effect live ("server.listen", "storage.dir",
  // "source shop: api_key"), each with a short reason. They keep their running values.
  std::vector<std::string> needs_restart;
};

// Compares the configuration in effect with the one just read.
reload_plan plan_reload(const config& running, const config& fresh);

// The configuration in effect once the plan is applied: `fresh`'s reloadable values (log
// level, per-source webhook authentication, and the fields only `check` reads) over
// `running`, so a later reload still reports what needs a restart.
config apply_reload(const config& running, const config& fresh);

}  // namespace sgs::config
