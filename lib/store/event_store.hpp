// The event store of one source: a SQLite file that webhook batches are appended to by one
// writer thread, with group commit and in-memory deduplication.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "events/event.hpp"
#include "events/parse.hpp"
#include "store/dedup_index.hpp"

struct sqlite3;
namespace SQLite {
class Database;
}

namespace sgs::store {

struct store_options {
  std::filesystem::path file;
  bool synchronous_full = true;  // PRAGMA synchronous=FULL (else NORMAL)
  std::chrono::milliseconds busy_timeout{5000};
  std::chrono::hours dedup_window{72};
  // A group commit takes queued batches until it holds this many events.
  std::size_t max_group_events = 64 * 1024;
  // Acknowledged bodies are moved into the event tables once this many events wait (or at
  // once when no request is waiting), at most merge_max_events per transaction.
  std::size_t merge_after_events = 16 * 1024;
  std::size_t merge_max_events = 32 * 1024;
  // WAL frames (16 KiB pages) before a passive checkpoint (~32 MiB), and before a RESTART
  // checkpoint that lets the WAL start over (~128 MiB): the WAL stays near that size.
  int checkpoint_after_frames = 2048;
  int restart_after_frames = 8192;
  // With fewer than merge_after_events pending, merge only after no request came for this long.
  std::chrono::milliseconds merge_idle_delay{20};
  // A group commit holding at least this many events skips pending_bodies and inserts its
  // events directly: it is big enough to amortise the index writes itself.
  std::size_t direct_insert_events = 4 * 1024;
  // submit() refuses (overloaded) when this many events already wait for the writer.
  std::size_t max_queued_events = 256 * 1024;
};

// Raised by open() when the file cannot be opened, migrated or read.
class store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct write_result {
  enum class outcome {
    committed,   // durable: every event stored or known duplicate, rejects kept
    failed,      // the transaction failed (disk full, I/O error, locked): nothing of it stored
    overloaded,  // refused before trying: the writer's queue is full
    closed,      // refused: the store is shutting down
  };
  outcome status = outcome::failed;
  std::size_t stored = 0;
  std::size_t duplicates = 0;
  std::size_t rejected = 0;
  std::string error;  // for failed: what SQLite said, e.g. "database or disk is full"
};

using write_callback = std::function<void(const write_result&)>;

// A latency histogram with fixed buckets, updated with relaxed atomics (cumulative on read).
struct latency_histogram {
  static constexpr std::array<double, 10> bounds = {0.005, 0.01, 0.025, 0.05, 0.1,
                                                    0.25,  0.5,  1.0,   2.5,  5.0};
  std::array<std::atomic<std::uint64_t>, bounds.size() + 1> counts{};  // last: over the top
  std::atomic<std::uint64_t> sum_micros{0};
  void observe(std::chrono::steady_clock::duration d) {
    const double seconds = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    counts[i].fetch_add(1, std::memory_order_relaxed);
    sum_micros.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
  }
};

// Counters for /healthz, /metrics and status; all monotonic since open.
struct store_counters {
  std::array<std::atomic<std::uint64_t>, events::event_type_count> stored{};
  std::array<std::atomic<std::uint64_t>, events::event_type_count> duplicates{};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> commits{0};
  latency_histogram commit_latency;  // group commits that acknowledged requests
  std::atomic<std::uint64_t> failed_commits{0};
  std::atomic<std::int64_t> last_event_unix_ms{0};  // arrival time of the newest stored event
  std::atomic<bool> last_commit_failed{false};
  std::atomic<std::uint64_t> queued_events{0};
  std::atomic<std::uint64_t> pending_events{0};  // acknowledged, not yet in the event tables
  std::atomic<std::uint64_t> merges{0};
  std::atomic<std::uint64_t> wal_restart_checkpoints{0};
  std::atomic<std::uint64_t> wal_resets{0};  // times the WAL started over from its beginning
};

// Owns the SQLite connection used for writing and the thread that writes. submit() may be
// called from any thread; callbacks run on the writer thread and must be quick (post the
// result to the caller's executor). close() finishes every queued batch first, so no
// submitted batch is left without a callback.
//
// Write path. Random-key index maintenance costs SQLite about one page write per row for
// small transactions (PERF.md, docs/DESIGN.md), so the acknowledgement does not wait for it:
//  1. Group commit: the writer takes every queued batch (up to max_group_events). For each
//     event it decides "duplicate" when its sg_event_id key or fingerprint key is in the
//     dedup index or earlier in the group. Each body is appended to pending_bodies with the
//     indexes of its duplicates, in one BEGIN IMMEDIATE ... COMMIT (fsync with FULL).
//  2. Only after that commit are the group's keys added to the dedup index and the callbacks
//     run: a failed commit marks nothing as seen, and the caller answers 503.
//     A group of at least direct_insert_events skips pending_bodies: its events go straight
//     into the tables in that same transaction.
//  3. Merge: when merge_after_events are pending, or no request waits, the writer re-parses
//     the oldest pending bodies and inserts their non-duplicate events and rejected elements
//     into the tables, deleting the bodies in the same transaction (one body is never in
//     both places, whatever crashes when).
//  4. At open, the dedup index is rebuilt from the rows of the window and from the pending
//     bodies, which are then merged like any others.
// Invariant: every acknowledged event is, at every instant, in exactly one of
// pending_bodies or its event table.
class event_store {
 public:
  // Opens (creating if needed) and migrates the file, rebuilds the dedup index from the rows
  // of the dedup window, and starts the writer thread. Throws store_error.
  static std::unique_ptr<event_store> open(const store_options& options);
  ~event_store();
  event_store(const event_store&) = delete;
  event_store& operator=(const event_store&) = delete;

  // Queues a parsed batch; `done` is called exactly once, after the commit that makes it
  // durable (or with the reason it could not be).
  void submit(events::parsed_batch batch, std::chrono::system_clock::time_point received_at,
              write_callback done);

  // Finishes queued work and stops the writer; later submits answer `closed`.
  void close();

  // True when the last commit succeeded (or none was tried yet): the store is writable.
  bool healthy() const { return !counters_.last_commit_failed.load(); }
  const store_counters& counters() const { return counters_; }
  const std::filesystem::path& file() const { return options_.file; }
  std::size_t dedup_keys() const { return dedup_size_.load(); }
  std::size_t dedup_bytes() const { return dedup_bytes_.load(); }
  std::string last_error() const;

 private:
  struct pending;
  struct statements;
  explicit event_store(const store_options& options);
  void rebuild_dedup_index();
  void recover_pending_bodies();
  void writer_loop();
  void write_group(std::vector<pending>& group);
  bool try_write(const std::vector<pending*>& batch, bool direct, std::string& error);
  void insert_events(const events::parsed_batch& batch, const std::string& duplicate_indexes,
                     std::string_view received_at);
  bool merge_pending(std::size_t max_events);
  void fail_transaction(const std::string& message);
  void checkpoint_loop();
  void yield_to_checkpoint();
  static int on_wal_commit(void* self, ::sqlite3* db, const char* name, int frames);

  store_options options_;
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<statements> statements_;
  std::unique_ptr<dedup_index> dedup_;
  store_counters counters_;
  std::atomic<std::size_t> dedup_size_{0};
  std::atomic<std::size_t> dedup_bytes_{0};
  std::atomic<int> wal_frames_{0};            // frames in the WAL after the last commit
  int busy_timeout_ms_ = 5000;                // for the writer's busy handler
  std::atomic<bool> restart_pending_{false};  // the checkpointer wants a RESTART checkpoint

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<pending> queue_;
  std::size_t queued_events_ = 0;
  bool closing_ = false;
  std::string last_error_;
  std::thread writer_;

  // Checkpoints run on their own connection and thread so the writer never waits for them.
  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_wake_;
  bool checkpoint_due_ = false;
  bool checkpoint_stop_ = false;
  std::thread checkpointer_;
};

// Formats a time as ISO-8601 UTC with milliseconds: 2026-11-27T14:15:23.123Z.
std::string iso8601_utc(std::chrono::system_clock::time_point t);

}  // namespace sgs::store
