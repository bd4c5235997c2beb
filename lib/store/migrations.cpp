// Applies the embedded schema migrations in order, one transaction each.
#include "store/migrations.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <chrono>
#include <string>
#include <vector>

namespace sgs::store {

int latest_schema_version() {
  auto all = embedded_migrations();
  return all.empty() ? 0 : all.back().version;
}

namespace {

// The statements of a migration, split where SQLite's own tokenizer says a statement ends.
std::vector<std::string> statements_of(std::string_view sql) {
  std::vector<std::string> out;
  std::string current;
  for (char c : sql) {
    current += c;
    if (c == ';' && sqlite3_complete(current.c_str())) {
      out.push_back(std::move(current));
      current.clear();
    }
  }
  if (current.find_first_not_of(" \t\r\n") != std::string::npos) out.push_back(current);
  return out;
}

// "CREATE INDEX delivered_by_email ON delivered(...)" -> its first line without comments.
std::string summary_of(const std::string& statement) {
  std::string out;
  std::size_t i = 0;
  while (i < statement.size()) {
    const auto eol = statement.find('\n', i);
    std::string line = statement.substr(i, eol == std::string::npos ? eol : eol - i);
    i = eol == std::string::npos ? statement.size() : eol + 1;
    const auto start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line.compare(start, 2, "--") == 0) continue;
    out = line.substr(start);
    break;
  }
  if (out.size() > 72) out = out.substr(0, 69) + "...";
  return out;
}

}  // namespace

int migrate(SQLite::Database& db, const migration_progress& progress, int up_to) {
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
    if (m.version > up_to) break;
    try {
      SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
      const auto statements = statements_of(m.sql);
      for (std::size_t i = 0; i < statements.size(); ++i) {
        const auto started = std::chrono::steady_clock::now();
        db.exec(statements[i]);
        if (progress) {
          progress(
              {m.name, i + 1, statements.size(), summary_of(statements[i]),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()});
        }
      }
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
