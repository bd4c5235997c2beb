// Applies the embedded schema migrations in order, one transaction each.
#include "store/migrations.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <string>

namespace sgs::store {

int latest_schema_version() {
  auto all = embedded_migrations();
  return all.empty() ? 0 : all.back().version;
}

int migrate(SQLite::Database& db) {
  const int current = db.execAndGet("PRAGMA user_version").getInt();
  const int latest = latest_schema_version();
  if (current > latest) {
    throw migration_error("database " + db.getFilename() + " has schema version " +
                          std::to_string(current) + " but this sendgrid-source knows only up to " +
                          std::to_string(latest) + ": run the newer sendgrid-source that wrote it");
  }
  int applied = 0;
  for (const migration& m : embedded_migrations()) {
    if (m.version <= current) continue;
    try {
      SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
      db.exec(std::string(m.sql));
      db.exec("PRAGMA user_version = " + std::to_string(m.version));
      tx.commit();
    } catch (const SQLite::Exception& e) {
      throw migration_error("migration " + std::string(m.name) + " failed on " + db.getFilename() +
                            ": " + e.what());
    }
    ++applied;
  }
  return applied;
}

}  // namespace sgs::store
