// The object tables of one source (lists, segments, campaigns, recipients) and sync_runs:
// staging a collection's rows, merging them in, tombstoning what a complete sync did not see.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace SQLite {
class Database;
}

namespace sgs::store {

// The collections, in the order a sync runs them (SPEC §7). The marketing four come first;
// the rest of the account (issue 16) is described in store/account_tables.hpp.
enum class collection {
  lists,
  segments,
  campaigns,
  recipients,
  bounces,
  blocks,
  spam_reports,
  invalid_emails,
  global_unsubscribes,
  unsubscribe_groups,
  group_suppressions,
  templates,
  template_versions,
  senders,
  verified_senders,
  field_definitions,
  stats_daily,
  category_stats_daily,
  singlesend_stats,
  automation_stats,
  messages
};
inline constexpr std::array<collection, 4> all_collections = {
    collection::lists, collection::segments, collection::campaigns, collection::recipients};
std::string_view collection_name(collection c);  // also the table name
std::optional<collection> collection_from_name(std::string_view name);

// Typed columns of each table, in the order of columns(c): `id` first, `raw` last. The store
// adds source_api, synced_at and deleted_at itself.
namespace list_col {
enum : int { id, name, contact_count, raw, count };
}
namespace segment_col {
enum : int {
  id,
  name,
  contacts_count,
  parent_list_ids,
  query_version,
  query_validation,
  conditions,
  created_at,
  updated_at,
  sample_updated_at,
  next_sample_update,
  raw,
  count
};
}
namespace campaign_col {
enum : int {
  id,
  name,
  status,
  categories,
  send_at,
  is_abtest,
  abtest,
  subject,
  sender_id,
  list_ids,
  segment_ids,
  suppression_group_id,
  custom_unsubscribe_url,
  ip_pool,
  editor,
  created_at,
  updated_at,
  raw,
  count
};
}
namespace recipient_col {
enum : int {
  id,
  email,
  first_name,
  last_name,
  unique_name,
  phone_number_id,
  external_id,
  anonymous_id,
  alternate_emails,
  address_line_1,
  address_line_2,
  city,
  state_province_region,
  country,
  postal_code,
  phone_number,
  whatsapp,
  line,
  facebook,
  list_ids,
  segment_ids,
  custom_fields,
  created_at,
  updated_at,
  last_clicked,
  last_emailed,
  last_opened,
  raw,
  count
};
}

// Column names of a collection's typed columns, indexed by the enums above.
std::span<const std::string_view> columns(collection c);

// One object to stage. Cells are null until set. Text set with text() is borrowed: it must
// stay valid until object_store::stage() returns (so a parser's buffers can be bound without
// copies); text written into owned() lives in the row, whose buffers are reused row after row.
class object_row {
 public:
  explicit object_row(collection c);
  collection kind() const { return kind_; }
  void clear();
  void text(int col, std::string_view v);
  void integer(int col, std::int64_t v);
  std::string& owned(int col);  // cleared buffer; the cell becomes its text

  struct cell {
    enum class type : std::uint8_t { null, integer, text, owned } t = type::null;
    std::int64_t i = 0;
    std::string_view s;
  };
  const cell& at(int col) const { return cells_[static_cast<std::size_t>(col)]; }
  std::string_view text_at(int col) const;  // "" for null or integer cells

 private:
  collection kind_;
  std::vector<cell> cells_;
  std::vector<std::string> owned_;
};

enum class run_status { running, succeeded, failed, stopped, skipped };
std::string_view run_status_name(run_status s);

// What one collection's run did, as recorded in sync_runs.
struct run_counts {
  std::int64_t pages = 0;
  std::int64_t rows_seen = 0;
  std::int64_t rows_upserted = 0;
  std::int64_t rows_tombstoned = 0;
  std::int64_t http_retries = 0;
  std::int64_t rate_limit_waits = 0;
};

struct sync_run_record {
  std::string run_id;
  std::string collection;
  std::string source_api;
  std::string started_at;
  std::string finished_at;
  std::string status;
  run_counts counts;
  std::string error;
};

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

class object_store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
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
class object_store {
 public:
  static std::unique_ptr<object_store> open(const object_store_options& options);
  ~object_store();
  object_store(const object_store&) = delete;
  object_store& operator=(const object_store&) = delete;

  void begin_collection(collection c);
  void stage(const object_row& row);  // row.kind() must be the collection begun
  std::int64_t staged_rows() const { return staged_; }
  // Returns the rows inserted, changed or revived. `keep_going` is asked between
  // transactions; when it answers false, merge stops (what is committed stays).
  std::int64_t merge(std::string_view source_api, std::string_view synced_at,
                     const std::function<bool()>& keep_going);
  // Returns the rows newly tombstoned; same `keep_going` contract.
  std::int64_t tombstone(std::string_view deleted_at, const std::function<bool()>& keep_going);
  void end_collection();

  // sync_runs: a row at the start of a collection's run, completed at its end.
  std::int64_t begin_run(std::string_view run_id, std::string_view source, collection c,
                         std::string_view started_at);
  void finish_run(std::int64_t run_row, run_status status, std::string_view source_api,
                  const run_counts& counts, std::string_view finished_at, std::string_view error);
  // The newest runs first (for status and tests).
  std::vector<sync_run_record> recent_runs(std::size_t limit);
  // When this collection last finished a run with status succeeded ("" when never).
  std::string last_success(collection c);
  // The status of this collection's newest run ("" when never run). Defined in
  // store/account_tables.cpp.
  std::string last_status(collection c);
  // sync_state: cursors of the incremental collections ("" when never written). Defined in
  // store/account_tables.cpp.
  std::string state(std::string_view key);
  void set_state(std::string_view key, std::string_view value, std::string_view updated_at);

 private:
  struct statements;
  explicit object_store(const object_store_options& options);
  void flush_stage();

  object_store_options options_;
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<statements> st_;
  std::optional<collection> current_;
  std::int64_t staged_ = 0;
  std::size_t in_stage_tx_ = 0;
};

}  // namespace sgs::store
