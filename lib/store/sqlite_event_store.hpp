// The SQLite event store of one source: webhook batches acknowledged into a pending journal
// file by one writer thread with group commit and in-memory deduplication, then merged into
// the event tables by a merger thread. One job per file: sqlite_event_store.cpp (open, threads,
// close), pending_journal.cpp (writer), merger.cpp, checkpointer.cpp, recovery.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "events/event.hpp"
#include "events/parse.hpp"
#include "store/dedup_index.hpp"
#include "store/event_store.hpp"
#include "store/migration_progress.hpp"

struct sqlite3;
struct sqlite3_stmt;
namespace SQLite {
class Database;
}

namespace sgs::store {

class daily_counts_keeper;

struct store_options {
  std::filesystem::path file;
  bool synchronous_full = true;  // PRAGMA synchronous=FULL (else NORMAL)
  std::chrono::milliseconds busy_timeout{5000};
  std::chrono::hours dedup_window{72};
  // A group commit takes queued batches until it holds this many events.
  std::size_t max_group_events = 64 * 1024;
  // Acknowledged bodies are moved into the event tables once this many events wait (or when
  // no request came for merge_idle_delay), at most merge_max_events per transaction.
  std::size_t merge_after_events = 16 * 1024;
  std::size_t merge_max_events = 24 * 1024;
  // WAL frames (16 KiB pages) before a passive checkpoint (~32 MiB), and before a RESTART
  // checkpoint that lets the WAL start over (~128 MiB): the WAL stays near that size.
  int checkpoint_after_frames = 2048;
  int restart_after_frames = 8192;
  // With fewer than merge_after_events pending, merge only after no request came for this long.
  std::chrono::milliseconds merge_idle_delay{20};
  // submit() refuses (overloaded) when this many events already wait for the writer.
  std::size_t max_queued_events = 256 * 1024;
  // Above this many acknowledged events waiting to be merged, the writer acknowledges only as
  // fast as the merger moves events into the tables: the tables stay at most about a second
  // behind, and a stop never has long to merge.
  std::size_t pending_high_water = 128 * 1024;
  // Parse once: the writer hands the parsed batches it journaled to the merger, up to this
  // many events in memory (~1.5 KB each with their body); beyond it, and after a crash, the
  // merger parses the journaled bodies again. One merge's worth keeps about 3/4 of the CPU
  // saving at ~145 MB peak RSS instead of ~210 MB (docs/DESIGN.md, "Parse once").
  std::size_t max_parsed_events = 24 * 1024;
  // Index segments (schema/0006): the merger starts a new one after this many events, so the
  // part of the email and sg_message_id indexes that takes new rows stays about this size.
  // Smaller: faster ingest on a large store; larger: fewer seeks per lookup (one per segment).
  std::uint64_t segment_events = 1'000'000;
  // The merger folds what it counted into the daily_counts view after this many events, so
  // the view's live part never counts more than about this many rows.
  std::uint64_t daily_counts_fold_events = 100'000;
  // Hears of each statement of a schema migration run at open.
  migration_progress on_migration_step{};
};

// The file beside the event tables' file that holds acknowledged bodies until they are merged:
// <dir>/<name>.db -> <dir>/<name>.pending.db.
std::filesystem::path pending_file_for(const std::filesystem::path& file);

// The file beside the event tables' file that holds acknowledged bodies until they are merged:
// <dir>/<name>.db -> <dir>/<name>.pending.db.
std::filesystem::path pending_file_for(const std::filesystem::path& file);

// Owns the store's SQLite connections and the threads that write. submit() may be called
// from any thread; callbacks run on the writer thread and must be quick (post the result to
// the caller's executor). close() finishes every queued batch first, so no submitted batch is
// left without a callback.
//
// Write path. Random-key index maintenance makes inserting into the event tables expensive,
// and SQLite allows one writer per file, so acknowledging and indexing use two files:
//  1. Acknowledge (writer thread, <name>.pending.db): group commit. The writer takes every
//     queued batch (up to max_group_events); an event is a duplicate when its sg_event_id key
//     or fingerprint key is in the dedup index or earlier in the group. Each body is appended
//     to pending_bodies (one row per POST, with the indexes of its duplicates) in one
//     BEGIN IMMEDIATE ... COMMIT (fsync with FULL). Only after that commit are the group's keys
//     added to the dedup index and the callbacks run: a failed commit marks nothing as seen,
//     and the caller answers 503.
//  2. Merge (merger thread, <name>.db): the oldest pending bodies are re-parsed and their
//     non-duplicate events and rejected elements inserted into the tables in large
//     transactions, which also record the id of the last body merged (merged_bodies). A merge,
//     however long, never delays an acknowledgement.
//  3. The writer deletes merged bodies from the pending file in its next transaction. Bodies
//     at or below the last merged id (merged_bodies) that are still there after a crash are deleted
//     at open, never merged twice.
//  4. At open, the dedup index is rebuilt from the rows of the window and from the pending
//     bodies, which are then merged like any others.
// Invariant: every acknowledged event is, at every instant, in its event table or in a
// pending body above the last merged id (merged_bodies), never in both.
class sqlite_event_store final : public event_store {
 public:
  // Opens (creating if needed) and migrates the files, rebuilds the dedup index from the rows
  // of the dedup window, and starts the threads. Throws store_error.
  static std::unique_ptr<sqlite_event_store> open(const store_options& options);
  ~sqlite_event_store() override;
  sqlite_event_store(const sqlite_event_store&) = delete;
  sqlite_event_store& operator=(const sqlite_event_store&) = delete;

  // Queues a parsed batch; `done` is called exactly once, after the commit that makes it
  // durable (or with the reason it could not be).
  void submit(events::parsed_batch batch, std::chrono::system_clock::time_point received_at,
              write_callback done) override;

  // Finishes queued work, merges every pending body and stops the threads; later submits
  // answer `closed`.
  void close() override;

  // True when the last commit and the last merge succeeded (or none was tried yet).
  bool healthy() const override {
    return !counters_.last_commit_failed.load() && !counters_.last_merge_failed.load();
  }
  const store_counters& counters() const override { return counters_; }
  const std::filesystem::path& file() const { return options_.file; }
  std::string location() const override { return options_.file.string(); }
  std::size_t dedup_keys() const override { return dedup_size_.load(); }
  std::size_t dedup_bytes() const override { return dedup_bytes_.load(); }
  std::string last_error() const override;

 private:
  struct pending;
  struct statements;
  struct body_row;
  struct parsed_body;
  // One WAL file's state, shared by its writer's commit hook and the checkpointer.
  struct wal_state {
    sqlite_event_store* store = nullptr;
    std::atomic<int> frames{0};                // frames in the WAL after the last commit
    std::atomic<bool> restart_pending{false};  // the checkpointer wants a RESTART checkpoint
    bool checkpoint_due = false;               // under checkpoint_mutex_
  };
  explicit sqlite_event_store(const store_options& options);
  void open_files();
  void rebuild_dedup_index();
  void add_pending_keys(const body_row& row);
  void recover_pending();
  std::vector<body_row> read_pending(::sqlite3_stmt* select, std::int64_t after_id,
                                     std::size_t max_events);
  void writer_loop();
  void write_group(std::vector<pending>& group);
  bool try_write(const std::vector<pending*>& batch, std::string& error, int& error_code);
  void merger_loop();
  bool merge_once(std::uint64_t& moved);
  double admission_budget();
  static constexpr double unpaced = 1e18;
  static constexpr double refuse = -1;
  void hand_to_merger(const std::vector<pending*>& batch);
  std::optional<events::parsed_batch> take_parsed(std::int64_t id);
  void insert_bodies(const std::vector<body_row>& rows, bool from_journal);
  void insert_events(const events::parsed_batch& batch, const std::string& duplicate_indexes,
                     std::string_view received_at);
  void delete_merged_bodies(std::int64_t through_id);
  void load_segment();
  void after_merge(std::uint64_t moved_events);
  void checkpoint_loop();
  static void yield_to_checkpoint(const wal_state& wal);
  static int on_wal_commit(void* state, ::sqlite3* db, const char* name, int frames);

  store_options options_;
  std::unique_ptr<SQLite::Database> db_;              // the event tables: the merger writes
  std::unique_ptr<SQLite::Database> pending_db_;      // pending bodies: the writer writes
  std::unique_ptr<SQLite::Database> pending_reader_;  // pending bodies: the merger reads
  std::unique_ptr<statements> statements_;
  std::unique_ptr<dedup_index> dedup_;
  store_counters counters_;
  std::atomic<std::size_t> dedup_size_{0};
  std::atomic<std::size_t> dedup_bytes_{0};
  int busy_timeout_ms_ = 5000;  // for the busy handler
  wal_state tables_wal_;
  wal_state pending_wal_;
  std::atomic<std::uint64_t> merging_events_{0};  // inserted by the merge in progress
  std::atomic<double> merge_rate_{0};  // events/s the merger moves when it has work (EWMA)
  double admission_tokens_ = 0;        // writer thread: events that may be admitted while paced
  std::chrono::steady_clock::time_point last_admission_refill_{};
  std::atomic<std::int64_t> merged_through_{0};  // merged_bodies: last body id in the tables
  std::int64_t deleted_through_ = 0;  // writer thread: bodies up to here are gone from the file
  // Merger thread (open_files before it starts): the index segment rows go into and how many
  // events it holds; the per-day counts behind the daily_counts view.
  std::int64_t segment_ = 0;
  std::string normalized_;    // merger: an event's `normalized` JSON (schema/0008), reused
  std::string body_scratch_;  // merger: an event's event_rows.body (schema/0010), reused
  std::uint64_t segment_events_ = 0;
  std::unique_ptr<daily_counts_keeper> daily_counts_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;        // the writer: queued batches, closing, bodies to delete
  std::condition_variable merge_wake_;  // the merger: new pending bodies, the writer finished
  std::deque<pending> queue_;
  std::deque<parsed_body> parsed_;  // journaled, parsed, for the merger; oldest first
  std::uint64_t parsed_events_ = 0;
  std::size_t queued_events_ = 0;
  std::uint64_t acknowledged_groups_ = 0;  // commits of the writer, for the merger's idle wait
  bool closing_ = false;
  bool writer_done_ = false;
  std::string last_error_;
  std::thread writer_;
  std::thread merger_;

  // Checkpoints run on their own connections and thread so the writers never wait for them.
  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_wake_;
  bool checkpoint_stop_ = false;
  std::thread checkpointer_;
};

}  // namespace sgs::store
