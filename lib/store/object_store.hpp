// The object tables of one source (lists, segments, campaigns, recipients) and sync_runs as
// the sync sees them: the collections, their columns, a row to stage, and the store interface.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

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

class object_store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A source's object tables as one sync run sees them (SQLite today: sqlite_object_store.hpp).
// Not thread-safe: one sync thread uses it. Every method throws object_store_error with the
// database's message and what was being done.
//
// A collection's run (docs/SYNC.md):
//  1. begin_collection() starts an empty stage for the collection; stage() appends each
//     object received. Staging never holds a lock the webhook's writer needs, and memory
//     stays flat however large the collection.
//  2. merge() upserts the stage into the object table in transactions it chooses (a row whose
//     raw JSON is unchanged, and is not tombstoned, is not rewritten).
//  3. tombstone() (only after a complete run) sets deleted_at on rows of the table that are
//     not in the stage.
//  4. end_collection() drops the stage.
// A failed run may still merge what it received (upserts are true facts) but must not
// tombstone: a row missing from a partial run may just not have been fetched yet.
class object_store {
 public:
  virtual ~object_store() = default;

  virtual void begin_collection(collection c) = 0;
  virtual void stage(const object_row& row) = 0;  // row.kind() must be the collection begun
  virtual std::int64_t staged_rows() const = 0;
  // Returns the rows inserted, changed or revived. `keep_going` is asked between
  // transactions; when it answers false, merge stops (what is committed stays).
  virtual std::int64_t merge(std::string_view source_api, std::string_view synced_at,
                             const std::function<bool()>& keep_going) = 0;
  // Returns the rows newly tombstoned; same `keep_going` contract.
  virtual std::int64_t tombstone(std::string_view deleted_at,
                                 const std::function<bool()>& keep_going) = 0;
  virtual void end_collection() = 0;

  // sync_runs: a row at the start of a collection's run, completed at its end. A run record
  // is written in the same transaction as the rows it describes where the store can.
  virtual std::int64_t begin_run(std::string_view run_id, std::string_view source, collection c,
                                 std::string_view started_at) = 0;
  virtual void finish_run(std::int64_t run_row, run_status status, std::string_view source_api,
                          const run_counts& counts, std::string_view finished_at,
                          std::string_view error) = 0;
  // The newest runs first (for status and tests).
  virtual std::vector<sync_run_record> recent_runs(std::size_t limit) = 0;
  // When this collection last finished a run with status succeeded ("" when never).
  virtual std::string last_success(collection c) = 0;
  // The status of this collection's newest run ("" when never run).
  virtual std::string last_status(collection c) = 0;
  // sync_state: cursors of the incremental collections ("" when never written). set_state
  // first writes out what is staged (the cursor must not get ahead of the rows).
  virtual std::string state(std::string_view key) = 0;
  virtual void set_state(std::string_view key, std::string_view value,
                         std::string_view updated_at) = 0;

  // One sync of a source at a time across every process writing its store: true when this
  // store now holds the source's sync lock (until it is destroyed), false when another
  // process's sync holds it and this run must be skipped. A store that only one process
  // can write (SQLite: the daemon's scheduler already never overlaps runs) answers true.
  virtual bool try_lock_sync() { return true; }
};

}  // namespace sgs::store
