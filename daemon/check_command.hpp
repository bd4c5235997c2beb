// The `check` subcommand: the account set-up checklist of each source (SPEC §3).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "config/config.hpp"
#include "store/backend.hpp"

namespace sgs::daemon {

struct check_cli_options {
  std::string source;  // "" = every source
};

// Registers `check [--source N]`; values land in `out`.
CLI::App* add_check_command(CLI::App& app, check_cli_options& out);

// Prints the checklist of each selected source. 0 when no required item failed, 1 when one
// did, 2 for usage and configuration errors.
int run_check_command(const config::config& cfg, store::backend& storage,
                      const check_cli_options& options);

}  // namespace sgs::daemon
