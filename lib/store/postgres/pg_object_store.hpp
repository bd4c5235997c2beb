// The PostgreSQL object store: a source's object tables, sync_runs and sync_state in its
// schema, on the sync's own connection; and the one-sync-per-source lock across receivers.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "store/object_store.hpp"

namespace sgs::store::pg {

class connection;

struct pg_object_store_options {
  std::string conninfo;
  std::string schema;                    // already migrated
  std::size_t stage_batch_rows = 20000;  // rows per COPY into the stage
  std::size_t merge_batch_rows = 10000;  // rows per upsert transaction
};

// Not thread-safe: one sync thread uses it. Every method throws object_store_error.
//
// A collection's run, as in the SQLite store (object_store.hpp): stage() buffers rows and
// COPYs them into a temporary table (text columns); merge() upserts the stage in id order in
// transactions of merge_batch_rows, casting to the table's types (sgs_bigint, sgs_jsonb: a
// value of the wrong shape becomes NULL or a JSON string, never a failed run) and rewriting
// only rows whose raw changed, were tombstoned or changed API; tombstone() marks rows absent
// from the stage. MVCC: none of this blocks the receivers' writers.
class pg_object_store final : public object_store {
 public:
  static std::unique_ptr<pg_object_store> open(const pg_object_store_options& options);
  ~pg_object_store() override;

  void begin_collection(collection c) override;
  void stage(const object_row& row) override;
  std::int64_t staged_rows() const override { return staged_; }
  std::int64_t merge(std::string_view source_api, std::string_view synced_at,
                     const std::function<bool()>& keep_going) override;
  std::int64_t tombstone(std::string_view deleted_at,
                         const std::function<bool()>& keep_going) override;
  void end_collection() override;
  std::int64_t begin_run(std::string_view run_id, std::string_view source, collection c,
                         std::string_view started_at) override;
  void finish_run(std::int64_t run_row, run_status status, std::string_view source_api,
                  const run_counts& counts, std::string_view finished_at,
                  std::string_view error) override;
  std::vector<sync_run_record> recent_runs(std::size_t limit) override;
  std::string last_success(collection c) override;
  std::string last_status(collection c) override;
  std::string state(std::string_view key) override;
  void set_state(std::string_view key, std::string_view value,
                 std::string_view updated_at) override;
  // A session advisory lock on the source's schema, held until this store is destroyed (or
  // its connection drops): another receiver's sync of the source finds it taken.
  bool try_lock_sync() override;

 private:
  explicit pg_object_store(const pg_object_store_options& options);
  void flush_stage();

  pg_object_store_options options_;
  std::unique_ptr<connection> conn_;
  std::optional<collection> current_;
  std::string buffer_;  // COPY rows not yet sent
  std::size_t buffered_ = 0;
  std::int64_t staged_ = 0;
};

}  // namespace sgs::store::pg
