// The PostgreSQL event store of one source: webhook batches written by one writer thread with
// group commit, COPY into the (partitioned) event tables, and exactly-once enforced by the
// database's key table, so that any number of receivers may write one schema.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "events/event.hpp"
#include "store/event_store.hpp"

namespace sgs::store::pg {

class connection;

struct pg_event_store_options {
  std::string conninfo;  // libpq URI or conninfo; may hold a password: never logged
  std::string schema;    // the source's schema (already migrated)
  std::chrono::hours dedup_window{72};
  std::optional<int> retention_days;  // drop monthly partitions older than this; off = keep
  // A group commit takes queued batches until it holds this many events.
  std::size_t max_group_events = 64 * 1024;
  // submit() answers `overloaded` when this many events already wait for the writer.
  std::size_t max_queued_events = 256 * 1024;
  // Reconnect waits grow from the first to the cap while PostgreSQL is unreachable; batches
  // that arrive meanwhile are answered `failed` at once (SendGrid retries them).
  std::chrono::milliseconds reconnect_initial{100};
  std::chrono::milliseconds reconnect_max{5000};
  // Partitions are created this many months ahead; upkeep (partitions, retention, expired
  // keys) runs at open and then this often.
  int partition_months_ahead = 1;
  std::chrono::minutes upkeep_interval{60};
};

// Owns one connection and the writer thread. submit() may be called from any thread;
// callbacks run on the writer thread and must be quick.
//
// Write path (one transaction per group of queued batches; the writer takes them all):
//  1. INSERT the group's dedup keys (sg_event_id hash, content fingerprint; one uuid[]
//     parameter) into event_keys. Duplicates are rare, so first as a plain INSERT: when it
//     succeeds every key was new. A unique violation (a key stored before, or by another
//     receiver committing it right now) rolls the attempt back, and the group runs again
//     with ON CONFLICT DO NOTHING RETURNING the keys that were new, as do the next groups
//     for a while (retries come in runs). Either way the database's primary key, not this
//     process, decides what is a duplicate. (The plain INSERT costs PostgreSQL ~30 % less
//     per key than ON CONFLICT's speculative insertion: docs/SCALE.md.)
//  2. An event is stored when all its keys came back new (and no earlier event of the group
//     claimed them); its row goes into one COPY per event table. Rejected elements go to
//     rejected_events.
//  3. COMMIT with synchronous_commit on; only then are the callbacks answered `committed`.
//     Any error rolls everything back and answers `failed` (503): nothing of the group is
//     stored and no key is kept, so SendGrid's retry is stored normally.
// Invariant: a batch answered `committed` has every event in its table or already there.
class pg_event_store final : public event_store {
 public:
  // Connects, runs partition upkeep and starts the writer. Throws store_error.
  static std::unique_ptr<pg_event_store> open(const pg_event_store_options& options);
  ~pg_event_store() override;
  pg_event_store(const pg_event_store&) = delete;
  pg_event_store& operator=(const pg_event_store&) = delete;

  void submit(events::parsed_batch batch, std::chrono::system_clock::time_point received_at,
              write_callback done) override;
  void close() override;
  bool healthy() const override { return !counters_.last_commit_failed.load(); }
  std::string last_error() const override;
  const store_counters& counters() const override { return counters_; }
  std::string location() const override;

 private:
  struct pending;
  explicit pg_event_store(const pg_event_store_options& options);
  void writer_loop();
  void write_group(std::vector<pending>& group);
  bool connect(std::string& error);
  void upkeep();
  void fail_group(std::vector<pending>& group, const std::string& error);

  // The COPY text and keys of a group, kept from group to group (writer thread only): built
  // afresh each time, they were large allocations that glibc maps and unmaps per group, and
  // the page faults of that cost the receiver more than building the text. Buffers that grew
  // past a few MB (a very large group) are released after it.
  struct group_buffers {
    std::array<std::string, events::event_type_count> rows;
    std::string rejected_rows;
    std::string keys;
    std::vector<events::dedup_key> sorted_keys;
  };
  group_buffers buffers_;
  // Groups left whose keys go in with ON CONFLICT at once (after a unique violation).
  int on_conflict_groups_left_ = 0;

  pg_event_store_options options_;
  std::unique_ptr<connection> conn_;  // writer thread only
  store_counters counters_;
  std::chrono::steady_clock::time_point next_connect_{};
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point next_upkeep_{};

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<pending> queue_;
  std::size_t queued_events_ = 0;
  bool closing_ = false;
  std::string last_error_;
  std::thread writer_;
};

}  // namespace sgs::store::pg
