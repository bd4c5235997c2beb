// Forward-only schema migrations from schema/*.sql, tracked with PRAGMA user_version.
#pragma once

#include <climits>
#include <span>
#include <stdexcept>
#include <string_view>

#include "store/migration_progress.hpp"

namespace SQLite {
class Database;
}

namespace sgs::store {

struct migration {
  int version;            // NNNN of schema/NNNN_name.sql
  std::string_view name;  // file name without .sql
  std::string_view sql;
};

// The migrations compiled into this binary, in version order.
std::span<const migration> embedded_migrations();

// The version a fully migrated database has.
int latest_schema_version();

class migration_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Applies every embedded migration newer than the database's user_version, each in its own
// transaction together with the user_version bump, so a crash leaves a consistent version.
// Returns the number applied. Throws migration_error when the file was written by a newer
// sendgrid-source (user_version beyond ours) or a migration fails. `progress` hears of each
// statement; `up_to` stops at that version (tests build older stores with it).
int migrate(SQLite::Database& db, const migration_progress& progress = {}, int up_to = INT_MAX);

}  // namespace sgs::store
