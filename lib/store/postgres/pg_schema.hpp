// The PostgreSQL schema of one source (a schema named after it): tables and views like the
// SQLite store's, with PostgreSQL types, built from the column tables (event_columns.hpp,
// object_store.hpp, account_tables.hpp) rather than hand-listed; versioned migrations
// applied under an advisory lock; monthly partitions of the event tables; retention.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/object_store.hpp"

namespace sgs::store::pg {

class connection;

struct pg_migration {
  int version;
  std::string_view name;
  std::string sql;  // run with search_path = the source's schema
};

// Forward-only, in version order. The version applied is recorded in schema_migrations.
const std::vector<pg_migration>& migrations();
int latest_version();

// Creates the schema when missing and applies the migrations it lacks, holding a session
// advisory lock on the schema's name so that daemons starting together migrate once (the
// others wait, then find nothing to do). Returns the version the schema is at. Throws
// pg_error; refuses a schema from a newer version. `up_to` stops at that version (tests
// make an older store with it).
int migrate(connection& c, std::string_view schema, int up_to = -1);
// The version the schema is at; 0 when it has none (or does not exist).
int schema_version(connection& c, std::string_view schema);

// Every partitioned table (the event tables, other_events, rejected_events).
std::vector<std::string> partitioned_tables();
// The PostgreSQL type of an object table's typed column ("text", "bigint", "jsonb").
std::string_view object_column_type(collection c, std::string_view column);

struct partition_upkeep {
  int dropped = 0;              // partitions dropped by the retention
  std::int64_t moved_rows = 0;  // rows moved out of a default partition into their month's
};

// Creates the monthly partitions of every partitioned table from the month of `now` to
// `months_ahead` months later (a DEFAULT partition catches anything outside them; rows it holds
// for a month being created move into that month's partition), and when `retention_days` is
// set drops the partitions whose whole month ended before now minus that many days.
// Idempotent; safe when several daemons run it at once (it takes an advisory transaction
// lock). Throws pg_error.
partition_upkeep maintain_partitions(connection& c, std::string_view schema,
                                     std::chrono::system_clock::time_point now, int months_ahead,
                                     std::optional<int> retention_days);

// Advisory lock keys: (class, hashtext(schema)). Migration and partition upkeep use the first,
// the one-sync-per-source lock the second.
inline constexpr int migrate_lock_class = 0x5347;  // "SG"
inline constexpr int sync_lock_class = 0x5348;

}  // namespace sgs::store::pg
