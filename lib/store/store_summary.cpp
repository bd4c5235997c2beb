// Reads row counts and the newest arrival time from a source database, read-only.
#include "store/store_summary.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <stdexcept>

#include "events/event.hpp"

namespace sgs::store {

store_summary read_summary(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) {
    throw std::runtime_error("no database at " + file.string() +
                             " (nothing received yet; run `sendgrid-source migrate`)");
  }
  try {
    SQLite::Database db(file.string(), SQLite::OPEN_READONLY);
    db.setBusyTimeout(5000);
    store_summary s;
    s.schema_version = db.execAndGet("PRAGMA user_version").getInt();
    if (s.schema_version == 0) return s;
    std::optional<std::string> newest;
    for (events::event_type t : events::all_event_types) {
      const std::string table(events::table_name(t));
      const std::int64_t n = db.execAndGet("SELECT count(*) FROM " + table).getInt64();
      s.tables.push_back({table, n});
      s.total_events += n;
      // rowid order is arrival order: the last row is the newest.
      SQLite::Statement q(db, "SELECT received_at FROM " + table + " ORDER BY rowid DESC LIMIT 1");
      if (q.executeStep()) {
        std::string at = q.getColumn(0).getString();
        if (!newest || at > *newest) newest = at;
      }
    }
    s.tables.push_back(
        {"rejected_events", db.execAndGet("SELECT count(*) FROM rejected_events").getInt64()});
    s.last_received_at = newest;
    s.pending_events =
        db.execAndGet("SELECT coalesce(sum(events), 0) FROM pending_bodies").getInt64();
    if (s.schema_version >= 2) {
      SQLite::Statement runs(
          db,
          "SELECT r.collection, r.status, r.started_at, coalesce(r.finished_at, ''), "
          "r.rows_upserted, r.rows_tombstoned, coalesce(r.error, '') FROM sync_runs r "
          "WHERE r.id = (SELECT max(id) FROM sync_runs WHERE collection = r.collection) "
          "ORDER BY r.collection");
      while (runs.executeStep()) {
        last_sync_run run{runs.getColumn(0).getString(),
                          runs.getColumn(1).getString(),
                          runs.getColumn(2).getString(),
                          runs.getColumn(3).getString(),
                          runs.getColumn(4).getInt64(),
                          runs.getColumn(5).getInt64(),
                          0,
                          runs.getColumn(6).getString()};
        // Collection names are the object tables' names; anything else is not queried.
        if (run.collection == "lists" || run.collection == "segments" ||
            run.collection == "campaigns" || run.collection == "recipients") {
          run.objects =
              db.execAndGet("SELECT count(*) FROM " + run.collection + " WHERE deleted_at IS NULL")
                  .getInt64();
        }
        s.last_syncs.push_back(std::move(run));
      }
    }
    return s;
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("cannot read " + file.string() + ": " + e.what());
  }
}

std::optional<std::string> read_last_arrival(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) return std::nullopt;
  try {
    SQLite::Database db(file.string(), SQLite::OPEN_READONLY);
    db.setBusyTimeout(5000);
    if (db.execAndGet("PRAGMA user_version").getInt() == 0) return std::nullopt;
    std::vector<std::string> tables{"rejected_events", "pending_bodies"};
    for (events::event_type t : events::all_event_types) tables.emplace_back(events::table_name(t));
    std::optional<std::string> newest;
    for (const auto& table : tables) {
      // rowid order is arrival order: the last row is the newest.
      SQLite::Statement q(db, "SELECT received_at FROM " + table + " ORDER BY rowid DESC LIMIT 1");
      if (q.executeStep()) {
        std::string at = q.getColumn(0).getString();
        if (!newest || at > *newest) newest = std::move(at);
      }
    }
    return newest;
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("cannot read " + file.string() + ": " + e.what());
  }
}

}  // namespace sgs::store
