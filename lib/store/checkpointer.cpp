// The checkpointer (its own thread and connections): keeps both WAL files near a bounded size
// without ever making a writer wait for a checkpoint it did not ask for.
//
// Invariants:
//  1. Only this thread checkpoints (wal_autocheckpoint=0 on the writers' connections).
//  2. PASSIVE once a WAL holds checkpoint_after_frames; RESTART past restart_after_frames,
//     announced through wal_state::restart_pending so the file's writer holds back (at most
//     250 ms: see yield_to_checkpoint) and the WAL starts over from its beginning.
// Threads: on_wal_commit runs on the committing thread (writer or merger) and only sets flags
// under checkpoint_mutex_; checkpoint_loop runs on the checkpointer thread.

#include "store/sqlite_event_store_internal.hpp"

namespace sgs::store {

using events::event;
using events::event_type;
using text::iso8601_utc;
using namespace sqlite_detail;

// store_options::checkpoint_after_frames: the checkpointer thread runs a PASSIVE checkpoint once
// the WAL holds this many frames. store_options::restart_after_frames: passive checkpoints alone
// never let the WAL restart under sustained writes: by the time one has copied the frames it saw,
// the writer has appended more, so the log grows without bound (47 GB while filling a 10M-event
// store). Past that many frames the checkpointer runs a RESTART checkpoint instead: it waits for
// the writer's current transaction, copies the few frames the passive ones left, and makes the next
// transaction write the WAL from its start. The writer waits for it through its busy handler (1 ms
// steps: see writer_busy_handler).

int sqlite_event_store::on_wal_commit(void* state, sqlite3*, const char*, int frames) {
  auto* wal = static_cast<wal_state*>(state);
  sqlite_event_store* store = wal->store;
  // Fewer frames than after the previous commit: the WAL started over from its beginning.
  if (frames < wal->frames.exchange(frames)) store->counters_.wal_resets.fetch_add(1);
  if (frames >= store->options_.checkpoint_after_frames) {
    {
      std::lock_guard lock(store->checkpoint_mutex_);
      wal->checkpoint_due = true;
    }
    store->checkpoint_wake_.notify_one();
  }
  return SQLITE_OK;
}

void sqlite_event_store::yield_to_checkpoint(const wal_state& wal) {
  // Bounded: a RESTART that cannot finish (a reader holds an old snapshot) must not stall
  // writing; the WAL then just grows until the reader is done.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(250);
  while (wal.restart_pending.load() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

void sqlite_event_store::checkpoint_loop() {
  struct target {
    wal_state* wal;
    std::unique_ptr<SQLite::Database> db;
  };
  std::array<target, 2> targets{target{&tables_wal_, nullptr}, target{&pending_wal_, nullptr}};
  try {
    const std::array<std::string, 2> files{options_.file.string(),
                                           pending_file_for(options_.file).string()};
    for (std::size_t i = 0; i < targets.size(); ++i) {
      targets[i].db = std::make_unique<SQLite::Database>(
          files[i], SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX);
      sqlite3_busy_handler(targets[i].db->getHandle(), &writer_busy_handler, &busy_timeout_ms_);
      // A connection learns that the file is in WAL mode only when it first reads it; until
      // then sqlite3_wal_checkpoint_v2 silently does nothing.
      targets[i].db->exec("PRAGMA journal_mode=WAL");
    }
  } catch (const SQLite::Exception& e) {
    std::lock_guard lock(mutex_);
    last_error_ = std::string("checkpointer cannot open the database: ") + e.what();
    return;
  }
  for (;;) {
    std::array<bool, 2> due{};
    {
      std::unique_lock lock(checkpoint_mutex_);
      checkpoint_wake_.wait(lock, [&] {
        return checkpoint_stop_ || tables_wal_.checkpoint_due || pending_wal_.checkpoint_due;
      });
      if (checkpoint_stop_) return;
      for (std::size_t i = 0; i < targets.size(); ++i) {
        due[i] = targets[i].wal->checkpoint_due;
        targets[i].wal->checkpoint_due = false;
      }
    }
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (!due[i]) continue;
      wal_state& wal = *targets[i].wal;
      // PASSIVE never blocks the writer. When the WAL is long, RESTART (see
      // restart_after_frames); the file's writer, told that a RESTART is waiting, holds back
      // (briefly) so the checkpoint can take its turn.
      const bool restart = wal.frames.load() >= options_.restart_after_frames;
      if (restart) wal.restart_pending = true;
      const int rc = sqlite3_wal_checkpoint_v2(
          targets[i].db->getHandle(), nullptr,
          restart ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      wal.restart_pending = false;
      if (restart && rc == SQLITE_OK) {
        counters_.wal_restart_checkpoints.fetch_add(1);
      } else if (!restart && wal.frames.load() >= options_.restart_after_frames) {
        std::lock_guard lock(checkpoint_mutex_);
        wal.checkpoint_due = true;  // the log grew past the limit meanwhile: restart it next
      }
    }
  }
}

}  // namespace sgs::store
