// Read-only summary of a source's database for `status` and /healthz: row counts, last event.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace sgs::store {

struct table_count {
  std::string table;
  std::int64_t rows = 0;
};

// The newest run of one collection.
struct last_sync_run {
  std::string collection;
  std::string status;
  std::string started_at;
  std::string finished_at;
  std::int64_t rows_upserted = 0;
  std::int64_t rows_tombstoned = 0;
  std::int64_t objects = 0;  // rows of the object table not tombstoned
  std::string error;
  std::string last_success_at;  // when a run of this collection last succeeded; "" = never
};

struct store_summary {
  int schema_version = 0;
  std::vector<table_count> tables;              // every event table, other_events, rejected_events
  std::int64_t total_events = 0;                // event tables + other_events
  std::optional<std::string> last_received_at;  // newest received_at of any event row
  // Acknowledged, still in pending_bodies (a running daemon moves them into the tables).
  std::int64_t pending_events = 0;
  std::vector<last_sync_run> last_syncs;  // the newest run of each collection that ever ran
};

// Opens the file read-only (it may be in use by a running daemon: WAL readers never block
// the writer) and counts rows. Throws std::runtime_error naming the file when it cannot.
store_summary read_summary(const std::filesystem::path& file);

// The newest received_at of anything stored: event rows, rejected elements and acknowledged
// bodies not yet moved into the tables. Cheap on any size (the last rowid of each table), so
// it can be polled. nullopt when nothing was received or the file does not exist. Throws
// std::runtime_error naming the file when it cannot be read.
std::optional<std::string> read_last_arrival(const std::filesystem::path& file);

}  // namespace sgs::store
