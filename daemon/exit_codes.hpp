// The process's exit codes (SPEC §3), for every subcommand.
#pragma once

namespace sgs::daemon {

inline constexpr int exit_ok = 0;
inline constexpr int exit_runtime = 1;  // a runtime failure (a store, the API, a sync)
inline constexpr int exit_usage = 2;    // usage or configuration error

}  // namespace sgs::daemon
