// What `status` shows of a source's store: row counts, the last event, the last sync runs.
#pragma once

#include <cstdint>
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

}  // namespace sgs::store
