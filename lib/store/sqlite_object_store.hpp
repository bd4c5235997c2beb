// The SQLite object store: a source's object tables and sync_runs in its database file, on
// the sync's own connection (WAL; the event store writes the same file through another).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>

#include "store/object_store.hpp"

namespace SQLite {
class Database;
}

namespace sgs::store {

struct object_store_options {
  std::filesystem::path file;
  bool synchronous_full = true;
  std::chrono::milliseconds busy_timeout{5000};
  // Rows per transaction into the staging table (a temp table: it never takes the database's
  // write lock, so its size does not matter to the webhook writer).
  std::size_t stage_batch_rows = 20000;
  // Rows per write transaction when merging staged rows into the object table: bounds how
  // long the event writer may wait for the lock (see docs/SYNC.md for the measurements).
  std::size_t merge_batch_rows = 10000;
  // Pages of the object tables kept in memory (negative = KiB, as PRAGMA cache_size).
  int cache_size = -32768;
};

// Owns its own SQLite connection to the source's file (WAL; the event store writes to the
// same file through another connection). Not thread-safe: one sync thread uses it. Every
// method throws object_store_error with SQLite's message and what was being done.
//
// A collection's run, and why it is shaped this way (docs/SYNC.md):
//  1. begin_collection() creates an empty TEMP staging table. stage() appends each object
//     received; temp tables live outside the database file, so staging never holds the write
//     lock the webhook's writer needs, and memory stays flat (the stage spills to a temp file).
//  2. merge() indexes the stage, then upserts it into the object table in id order, in write
//     transactions of merge_batch_rows: random UUIDs arrive in random order, and inserting
//     them sorted turns one random B-tree page write per row into a sequential append. A row
//     whose raw JSON is unchanged (and is not tombstoned) is not rewritten at all.
//  3. tombstone() (only after a complete run) sets deleted_at on rows of the table that are
//     not in the stage, in rowid-range transactions. The stage is the "seen" set, on disk.
//  4. end_collection() drops the stage.
// A failed run may still merge what it received (upserts are true facts) but must not
// tombstone: a row missing from a partial run may just not have been fetched yet.
class sqlite_object_store final : public object_store {
 public:
  static std::unique_ptr<sqlite_object_store> open(const object_store_options& options);
  ~sqlite_object_store() override;
  sqlite_object_store(const sqlite_object_store&) = delete;
  sqlite_object_store& operator=(const sqlite_object_store&) = delete;

  void begin_collection(collection c) override;
  void stage(const object_row& row) override;  // row.kind() must be the collection begun
  std::int64_t staged_rows() const override { return staged_; }
  // Returns the rows inserted, changed or revived. `keep_going` is asked between
  // transactions; when it answers false, merge stops (what is committed stays).
  std::int64_t merge(std::string_view source_api, std::string_view synced_at,
                     const std::function<bool()>& keep_going) override;
  // Returns the rows newly tombstoned; same `keep_going` contract.
  std::int64_t tombstone(std::string_view deleted_at,
                         const std::function<bool()>& keep_going) override;
  void end_collection() override;

  // sync_runs: a row at the start of a collection's run, completed at its end.
  std::int64_t begin_run(std::string_view run_id, std::string_view source, collection c,
                         std::string_view started_at) override;
  void finish_run(std::int64_t run_row, run_status status, std::string_view source_api,
                  const run_counts& counts, std::string_view finished_at,
                  std::string_view error) override;
  // The newest runs first (for status and tests).
  std::vector<sync_run_record> recent_runs(std::size_t limit) override;
  // When this collection last finished a run with status succeeded ("" when never).
  std::string last_success(collection c) override;
  std::string last_status(collection c) override;
  std::string state(std::string_view key) override;
  void set_state(std::string_view key, std::string_view value,
                 std::string_view updated_at) override;

 private:
  struct statements;
  explicit sqlite_object_store(const object_store_options& options);
  void flush_stage();

  object_store_options options_;
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<statements> st_;
  std::optional<collection> current_;
  std::int64_t staged_ = 0;
  std::size_t in_stage_tx_ = 0;
};

}  // namespace sgs::store
