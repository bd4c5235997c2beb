// The SQLite event store's life cycle: opening both files (migrations, prepared statements,
// then recovery.cpp), starting the three threads, and closing. The jobs live in their own files:
//   pending_journal.cpp  writer thread: group commit into <name>.pending.db, acknowledgement,
//                        admission and pacing
//   merger.cpp           merger thread: pending bodies -> event tables
//   checkpointer.cpp     checkpointer thread: WAL checkpoints of both files
//   recovery.cpp         at open: the dedup index and what a crash left pending
// Thread ownership (see also the statements struct): db_ belongs to the merger while it runs
// (open and close use it before and after); pending_db_ to the writer; pending_reader_ to the
// merger; the checkpointer opens its own connections. open() and close() run on the owner's
// thread, close() joins the writer, then the merger, then the checkpointer, in that order.
#include <pthread.h>

#include <mutex>

#include "store/daily_counts.hpp"
#include "store/event_columns.hpp"
#include "store/migrations.hpp"
#include "store/sqlite_event_store_internal.hpp"

namespace sgs::store {

using events::event;
using events::event_type;
using text::iso8601_utc;
using namespace sqlite_detail;

namespace {

// The connection settings both files share. wal_autocheckpoint=0: a writer's own checkpoint
// would stall it; the checkpointer thread does them.
void configure_connection(SQLite::Database& db, bool synchronous_full) {
  // 16 KiB pages: a quarter of the WAL frames (and write syscalls) per commit of the same
  // rows; +15% ingest at 1000-event POSTs (docs/DESIGN.md). Only takes effect on a new file.
  db.exec("PRAGMA page_size=16384");
  db.exec("PRAGMA journal_mode=WAL");
  db.exec(synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  db.exec("PRAGMA wal_autocheckpoint=0");
  db.exec("PRAGMA temp_store=MEMORY");
}

}  // namespace

std::filesystem::path pending_file_for(const std::filesystem::path& file) {
  return file.parent_path() / (file.stem().string() + ".pending.db");
}

sqlite_event_store::sqlite_event_store(const store_options& options)
    : options_(options), dedup_(std::make_unique<dedup_index>(options.dedup_window)) {
  tables_wal_.store = this;
  pending_wal_.store = this;
}

// SQLite's own locking is not needed: each connection is used by one thread. Memory
// statistics take a global mutex on every allocation (7% of ingest CPU in a profile).
void configure_sqlite_once() {
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

std::unique_ptr<sqlite_event_store> sqlite_event_store::open(const store_options& options) {
  configure_sqlite_once();
  std::unique_ptr<sqlite_event_store> store(new sqlite_event_store(options));
  try {
    store->open_files();
  } catch (const SQLite::Exception& e) {
    throw store_error("cannot open event store " + options.file.string() + ": " + e.what());
  } catch (const write_failure& e) {
    throw store_error("cannot open event store " + options.file.string() + ": " + e.message);
  } catch (const migration_error& e) {
    throw store_error(e.what());
  }
  // Named, so that `top -H` shows which part of the store is busy.
  store->checkpointer_ = std::thread([s = store.get()] {
    pthread_setname_np(pthread_self(), "sgs-checkpoint");
    s->checkpoint_loop();
  });
  store->writer_ = std::thread([s = store.get()] {
    pthread_setname_np(pthread_self(), "sgs-writer");
    s->writer_loop();
  });
  store->merger_ = std::thread([s = store.get()] {
    pthread_setname_np(pthread_self(), "sgs-merger");
    s->merger_loop();
  });
  return store;
}

void sqlite_event_store::open_files() {
  std::error_code ec;
  if (options_.file.has_parent_path())
    std::filesystem::create_directories(options_.file.parent_path(), ec);
  if (ec) {
    throw store_error("cannot create directory " + options_.file.parent_path().string() + ": " +
                      ec.message());
  }
  const int open_flags = SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX;
  busy_timeout_ms_ = static_cast<int>(options_.busy_timeout.count());

  db_ = std::make_unique<SQLite::Database>(options_.file.string(), open_flags);
  sqlite3* h = db_->getHandle();
  sqlite3_busy_handler(h, &writer_busy_handler, &busy_timeout_ms_);
  configure_connection(*db_, options_.synchronous_full);
  // The merger's cache: each merge writes into the newest segment's part of every index
  // (schema/0006, 0011), up to ~60 MiB each for a segment of a million events. With 32 MiB it
  // read those pages back from the OS for every merge: 128 MiB took the merger from 19 to 14 us
  // per event on a 12-million-event store and the empty store from 59k to 63k-69k events/s
  // (docs/DESIGN.md, "Ingest at size"). SQLite allocates the cache as pages are used: a small
  // store takes what it touches.
  db_->exec("PRAGMA cache_size=-131072");
  migrate(*db_, options_.on_migration_step);

  const std::string pending_path = pending_file_for(options_.file).string();
  pending_db_ = std::make_unique<SQLite::Database>(pending_path, open_flags);
  sqlite3* ph = pending_db_->getHandle();
  sqlite3_busy_handler(ph, &writer_busy_handler, &busy_timeout_ms_);
  configure_connection(*pending_db_, options_.synchronous_full);
  // AUTOINCREMENT: ids are never reused, so the last merged id keeps meaning "merged".
  pending_db_->exec(
      "CREATE TABLE IF NOT EXISTS pending_bodies ("
      " id INTEGER PRIMARY KEY AUTOINCREMENT,"
      " received_at TEXT NOT NULL,"
      " body BLOB NOT NULL,"
      " events INTEGER NOT NULL,"
      " duplicates BLOB)");
  pending_reader_ = std::make_unique<SQLite::Database>(pending_path, open_flags);
  sqlite3_busy_handler(pending_reader_->getHandle(), &writer_busy_handler, &busy_timeout_ms_);
  pending_reader_->exec("PRAGMA cache_size=-1024");  // reads each body once, in order

  auto st = std::make_unique<statements>();
  {
    // Every type into event_rows (schema/0010); the per-type tables are views over it.
    std::string sql = "INSERT INTO event_rows (kind, event, ";
    std::size_t n = 2;
    for (const event_column& c : event_columns) {
      if (c.sqlite_view) continue;  // computed by the views
      sql += c.name;
      sql += ", ";
      ++n;
    }
    sql += "body, email_at, message_at, received_at_ms, normalized) VALUES (";
    for (std::size_t i = 0; i < n + 5; ++i) sql += i ? ",?" : "?";
    sql += ")";
    st->insert_event = prepare(h, sql);
  }
  st->insert_rejected =
      prepare(h, "INSERT INTO rejected_events (reason, raw, received_at) VALUES (?,?,?)");
  st->record_merged = prepare(h, "INSERT INTO merged_bodies (id) VALUES (?)");
  st->clear_merged = prepare(h, "DELETE FROM merged_bodies");
  // Bodies a version before 0.2 acknowledged into the tables' own file (schema 0001).
  st->select_legacy_pending =
      prepare(h,
              "SELECT id, received_at, body, duplicates, events FROM pending_bodies WHERE id > ? "
              "ORDER BY id");
  st->delete_legacy_pending = prepare(h, "DELETE FROM pending_bodies WHERE id <= ?");
  st->begin = prepare(h, "BEGIN IMMEDIATE");
  st->commit = prepare(h, "COMMIT");
  st->rollback = prepare(h, "ROLLBACK");
  st->select_pending = prepare(pending_reader_->getHandle(),
                               "SELECT id, received_at, body, duplicates, events FROM "
                               "pending_bodies WHERE id > ? ORDER BY id");
  st->insert_pending = prepare(
      ph, "INSERT INTO pending_bodies (received_at, body, events, duplicates) VALUES (?,?,?,?)");
  st->delete_pending = prepare(ph, "DELETE FROM pending_bodies WHERE id <= ?");
  st->pending_begin = prepare(ph, "BEGIN IMMEDIATE");
  st->pending_commit = prepare(ph, "COMMIT");
  st->pending_rollback = prepare(ph, "ROLLBACK");
  statements_ = std::move(st);

  merged_through_ = db_->execAndGet(
                           "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE "
                           "name = 'merged_bodies'), 0)")
                        .getInt64();
  load_segment();
  daily_counts_ = std::make_unique<daily_counts_keeper>(h);
  rebuild_dedup_index();
  recover_pending();
  // What merges committed after the view's last fold (a crash forgot their counts).
  daily_counts_->recount(h);
  if (daily_counts_->unfolded() > 0) daily_counts_->fold(h);
  sqlite3_wal_hook(h, &sqlite_event_store::on_wal_commit, &tables_wal_);
  sqlite3_wal_hook(ph, &sqlite_event_store::on_wal_commit, &pending_wal_);
}

// The newest segment and how full it is; a new one when it is full (schema/0006).
void sqlite_event_store::load_segment() {
  const std::int64_t newest =
      db_->execAndGet("SELECT coalesce(max(ingest_segment), 0) FROM event_rows").getInt64();
  SQLite::Statement q(*db_, "SELECT count(*) FROM event_rows WHERE ingest_segment = ?");
  q.bind(1, newest);
  const std::uint64_t held =
      q.executeStep() ? static_cast<std::uint64_t>(q.getColumn(0).getInt64()) : 0;
  segment_ = newest;
  segment_events_ = held;
  if (segment_events_ >= options_.segment_events) {
    ++segment_;
    segment_events_ = 0;
  }
}

sqlite_event_store::~sqlite_event_store() { close(); }

void sqlite_event_store::close() {
  {
    std::lock_guard lock(mutex_);
    if (closing_ && !writer_.joinable()) return;
    closing_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  // The writer has answered every queued batch; the merger now merges what is pending.
  if (merger_.joinable()) merger_.join();
  if (pending_db_) {
    try {
      delete_merged_bodies(merged_through_.load());
    } catch (const write_failure&) {
      // Left behind, they are deleted at the next open: merged_bodies says they are merged.
    }
  }
  {
    std::lock_guard lock(checkpoint_mutex_);
    checkpoint_stop_ = true;
  }
  checkpoint_wake_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();
  // Fold the WALs back into the databases so each file is complete on its own.
  for (auto* db : {db_.get(), pending_db_.get()}) {
    if (!db) continue;
    sqlite3_wal_hook(db->getHandle(), nullptr, nullptr);
    sqlite3_wal_checkpoint_v2(db->getHandle(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr,
                              nullptr);
  }
}

std::string sqlite_event_store::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

}  // namespace sgs::store
