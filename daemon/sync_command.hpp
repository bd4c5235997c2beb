// The `sync` subcommand: one sync of the configured sources now, in the foreground.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "config/config.hpp"
#include "store/backend.hpp"
#include "sync/sync_source.hpp"

namespace sgs::daemon {

struct sync_cli_options {
  std::string source;  // "" = every source that has an API key
  std::string only;    // "" = the source's configured collections; else "lists,recipients"
};

// The request that syncs `src` into its object store (opened from `storage`, which must
// outlive the request) with its configured collections.
sync::source_sync_request make_sync_request(store::backend& storage,
                                            const config::source_config& src, std::string api_key);

// Registers `sync [--source N] [--only lists,segments,...]` on `app`; values land in `out`.
CLI::App* add_sync_command(CLI::App& app, sync_cli_options& out);

// Runs it: progress on stderr when it is a terminal, a summary table on stdout at the end.
// Returns 0 when every collection of every source succeeded, 1 when any failed, 2 for usage
// and configuration errors (unknown source, no API key, bad collection name).
int run_sync_command(const config::config& cfg, store::backend& storage,
                     const sync_cli_options& options);

}  // namespace sgs::daemon
