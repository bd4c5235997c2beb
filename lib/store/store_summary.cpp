// Reads row counts and the newest arrival time from a source database, read-only.
#include "store/store_summary.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <array>
#include <chrono>
#include <stdexcept>

#include "events/event.hpp"
#include "store/event_columns.hpp"
#include "store/object_store.hpp"
#include "store/sqlite_event_store.hpp"
#include "text/iso8601.hpp"

namespace sgs::store {

namespace {

// received_at of the newest event_rows row (schema/0010; rowid order is arrival order).
std::optional<std::string> newest_event_row(SQLite::Database& db) {
  SQLite::Statement q(db, "SELECT received_at_ms FROM event_rows ORDER BY rowid DESC LIMIT 1");
  if (!q.executeStep()) return std::nullopt;
  return text::iso8601_utc(
      std::chrono::system_clock::time_point{std::chrono::milliseconds(q.getColumn(0).getInt64())});
}

}  // namespace

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
    if (s.schema_version >= 10) {
      // One table behind the per-type views (schema/0010): one pass over its smallest index.
      std::array<std::int64_t, events::event_type_count> counts{};
      SQLite::Statement q(db, "SELECT kind, count(*) FROM event_rows GROUP BY kind");
      while (q.executeStep()) {
        if (auto t = event_type_of_kind(q.getColumn(0).getInt64())) {
          counts[static_cast<std::size_t>(*t)] = q.getColumn(1).getInt64();
        }
      }
      for (events::event_type t : events::all_event_types) {
        const std::int64_t n = counts[static_cast<std::size_t>(t)];
        s.tables.push_back({std::string(events::table_name(t)), n});
        s.total_events += n;
      }
      newest = newest_event_row(db);
    } else {
      for (events::event_type t : events::all_event_types) {
        const std::string table(events::table_name(t));
        const std::int64_t n = db.execAndGet("SELECT count(*) FROM " + table).getInt64();
        s.tables.push_back({table, n});
        s.total_events += n;
        // rowid order is arrival order: the last row is the newest.
        SQLite::Statement q(db,
                            "SELECT received_at FROM " + table + " ORDER BY rowid DESC LIMIT 1");
        if (q.executeStep()) {
          std::string at = q.getColumn(0).getString();
          if (!newest || at > *newest) newest = at;
        }
      }
    }
    s.tables.push_back(
        {"rejected_events", db.execAndGet("SELECT count(*) FROM rejected_events").getInt64()});
    s.last_received_at = newest;
    // Acknowledged but not yet merged: left by an older version in this file, and in the
    // pending file above the last merged id (see event_store).
    s.pending_events =
        db.execAndGet("SELECT coalesce(sum(events), 0) FROM pending_bodies").getInt64();
    const auto pending_file = pending_file_for(file);
    if (s.schema_version >= 4 && std::filesystem::exists(pending_file)) {
      const std::int64_t merged = db.execAndGet(
                                        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE "
                                        "name = 'merged_bodies'), 0)")
                                      .getInt64();
      SQLite::Database pending(pending_file.string(), SQLite::OPEN_READONLY);
      pending.setBusyTimeout(5000);
      SQLite::Statement q(pending,
                          "SELECT coalesce(sum(events), 0) FROM pending_bodies WHERE id > ?");
      q.bind(1, static_cast<std::int64_t>(merged));
      if (q.executeStep()) s.pending_events += q.getColumn(0).getInt64();
    }
    if (s.schema_version >= 2) {
      SQLite::Statement runs(
          db,
          "SELECT r.collection, r.status, r.started_at, coalesce(r.finished_at, ''), "
          "r.rows_upserted, r.rows_tombstoned, coalesce(r.error, ''), "
          "coalesce((SELECT max(finished_at) FROM sync_runs s WHERE s.collection = r.collection "
          "AND s.status = 'succeeded'), '') FROM sync_runs r "
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
                          runs.getColumn(6).getString(),
                          runs.getColumn(7).getString()};
        // Collection names are the object tables' names; anything else is not queried.
        if (collection_from_name(run.collection)) {
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
    const int version = db.execAndGet("PRAGMA user_version").getInt();
    if (version == 0) return std::nullopt;
    const bool one_table = version >= 10;
    std::vector<std::string> tables{"rejected_events", "pending_bodies"};
    if (!one_table) {
      for (events::event_type t : events::all_event_types) {
        tables.emplace_back(events::table_name(t));
      }
    }
    std::optional<std::string> newest = one_table ? newest_event_row(db) : std::nullopt;
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
