// What every subcommand asks of the configured sources: which ones, and their API keys.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace sgs::daemon {

// A usage or configuration error: main() prints it on one line and exits with exit_usage.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The source named `only`, or every source when `only` is empty. Throws usage_error, naming
// the configured sources, when there is no such source.
std::vector<const config::source_config*> select_sources(const config::config& cfg,
                                                         const std::string& only);
const config::source_config& find_source(const config::config& cfg, const std::string& name);

// The source's API key (api_key_file, $CREDENTIALS_DIRECTORY, api_key_env); nullopt when none
// is configured. Throws usage_error when one is configured but cannot be read.
std::optional<std::string> api_key_of(const config::source_config& src);

// Logs a warning when the source's API key file is readable by other users (for `run`).
void warn_if_readable_by_others(const config::source_config& src);

}  // namespace sgs::daemon
