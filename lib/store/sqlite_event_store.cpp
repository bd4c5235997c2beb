// Event store: migrations at open, dedup index rebuild, the writer thread with group commit,
// and a checkpointer thread.
#include "store/sqlite_event_store.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <pthread.h>
#include <sqlite3.h>

#include <ctime>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "store/migrations.hpp"
#include "text/iso8601.hpp"

namespace sgs::store {

using events::event;
using text::iso8601_utc;
using events::event_type;

namespace {

// The typed columns of every event table, in the order bind_event binds them.
constexpr const char* event_columns =
    "sg_event_id, sg_message_id, email, timestamp, smtp_id, category, asm_group_id, reason, "
    "status, response, attempt, type, bounce_classification, url, url_offset_index, "
    "url_offset_type, useragent, ip, tls, cert_err, sg_machine_open, sg_content_type, pool_name, "
    "pool_id, marketing_campaign_id, marketing_campaign_name, marketing_campaign_version, "
    "marketing_campaign_split_id, post_type, sg_user_id, singlesend_id, singlesend_name, "
    "mc_stats, phase_id, send_at, template_id, template_version_id, template_hash, "
    "sg_template_id, sg_template_name, domain, from_address, newsletter, custom_args, raw, "
    "received_at";
constexpr int event_column_count = 46;

// store_options::checkpoint_after_frames: the checkpointer thread runs a PASSIVE checkpoint once
// the WAL holds this many frames. store_options::restart_after_frames: passive checkpoints alone
// never let the WAL restart under sustained writes: by the time one has copied the frames it saw,
// the writer has appended more, so the log grows without bound (47 GB while filling a 10M-event
// store). Past that many frames the checkpointer runs a RESTART checkpoint instead: it waits for
// the writer's current transaction, copies the few frames the passive ones left, and makes the next
// transaction write the WAL from its start. The writer waits for it through its busy handler (1 ms
// steps: see writer_busy_handler).

// SQLite's busy_timeout sleeps in growing steps (up to 100 ms) and oversleeps a short RESTART
// checkpoint; the writer retries every millisecond instead, up to the configured timeout.
int writer_busy_handler(void* timeout_ms, int attempts) {
  if (attempts >= *static_cast<int*>(timeout_ms)) return 0;
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return 1;
}

struct stmt_deleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_deleter>;

// Raised inside a write when SQLite reports an error; carries SQLite's message.
struct write_failure {
  std::string message;
  int code = SQLITE_ERROR;
};

void check(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw write_failure{std::string(what) + ": " + sqlite3_errmsg(db), rc};
  }
}

// A locked database, a full disk or an I/O error fails every batch of a group alike: retrying
// each batch alone would only make each wait out the busy timeout again (a group of 64
// requests would hang for 64 busy timeouts instead of answering 503 after one).
bool fails_every_batch(int code) {
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_NOMEM:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
      return true;
    default:
      return false;
  }
}

stmt_ptr prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) {
    throw store_error("cannot prepare statement (" + std::string(sqlite3_errmsg(db)) + "): " + sql);
  }
  return stmt_ptr(s);
}

class binder {
 public:
  binder(sqlite3_stmt* s, int first) : s_(s), i_(first) {}
  void text(std::string_view v) {
    sqlite3_bind_text(s_, i_++, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void text(const std::optional<std::string_view>& v) {
    if (v) {
      text(*v);
    } else {
      sqlite3_bind_null(s_, i_++);
    }
  }
  void text(const std::optional<std::string>& v) {
    if (v) {
      text(std::string_view(*v));
    } else {
      sqlite3_bind_null(s_, i_++);
    }
  }
  void integer(const std::optional<std::int64_t>& v) {
    if (v) {
      sqlite3_bind_int64(s_, i_++, *v);
    } else {
      sqlite3_bind_null(s_, i_++);
    }
  }

 private:
  sqlite3_stmt* s_;
  int i_;
};

void bind_event(sqlite3_stmt* s, int first, const event& e, std::string_view received_at) {
  binder b(s, first);
  b.text(e.sg_event_id);
  b.text(e.sg_message_id);
  b.text(e.email);
  b.integer(e.timestamp);
  b.text(e.smtp_id);
  b.text(std::string_view(e.category));
  b.integer(e.asm_group_id);
  b.text(e.reason);
  b.text(e.status);
  b.text(e.response);
  b.integer(e.attempt);
  b.text(e.type);
  b.text(e.bounce_classification);
  b.text(e.url);
  b.integer(e.url_offset_index);
  b.text(e.url_offset_type);
  b.text(e.useragent);
  b.text(e.ip);
  b.integer(e.tls);
  b.integer(e.cert_err);
  b.integer(e.sg_machine_open);
  b.text(e.sg_content_type);
  b.text(e.pool_name);
  b.integer(e.pool_id);
  b.integer(e.marketing_campaign_id);
  b.text(e.marketing_campaign_name);
  b.text(e.marketing_campaign_version);
  b.integer(e.marketing_campaign_split_id);
  b.text(e.post_type);
  b.integer(e.sg_user_id);
  b.text(e.singlesend_id);
  b.text(e.singlesend_name);
  b.text(e.mc_stats);
  b.text(e.phase_id);
  b.integer(e.send_at);
  b.text(e.template_id);
  b.text(e.template_version_id);
  b.text(e.template_hash);
  b.text(e.sg_template_id);
  b.text(e.sg_template_name);
  b.text(e.domain);
  b.text(e.from);
  b.text(e.newsletter);
  b.text(std::string_view(e.custom_args));
  b.text(e.raw);
  b.text(received_at);
}

struct dedup_key_hash {
  std::size_t operator()(const events::dedup_key& k) const noexcept {
    return k.low ^ (k.high << 1);
  }
};

std::optional<std::string_view> column_text(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
}

std::optional<std::int64_t> column_int(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(s, i);
}

// The duplicate indexes stored with a pending body, as a sorted list.
std::vector<std::uint32_t> decode_indexes(const void* blob, int bytes) {
  std::vector<std::uint32_t> out;
  const auto* p = static_cast<const unsigned char*>(blob);
  for (int i = 0; i + 3 < bytes; i += 4) {
    out.push_back(static_cast<std::uint32_t>(p[i]) | static_cast<std::uint32_t>(p[i + 1]) << 8 |
                  static_cast<std::uint32_t>(p[i + 2]) << 16 |
                  static_cast<std::uint32_t>(p[i + 3]) << 24);
  }
  return out;
}

// Reads back what iso8601_utc wrote (to the second; the dedup generations are hours long).
std::chrono::system_clock::time_point parse_iso8601(std::string_view text) {
  return text::parse_iso8601_utc(text).value_or(std::chrono::system_clock::time_point{});
}

}  // namespace

std::filesystem::path pending_file_for(const std::filesystem::path& file) {
  return file.parent_path() / (file.stem().string() + ".pending.db");
}

struct sqlite_event_store::pending {
  events::parsed_batch batch;
  std::chrono::system_clock::time_point received_at;
  std::string received_at_text;
  write_callback done;
  write_result result;
  std::vector<events::dedup_key> new_keys;  // added to the index after the commit
  std::string duplicate_indexes;            // uint32 LE indexes into batch.events
  std::array<std::uint32_t, events::event_type_count> stored_by_type{};
  std::array<std::uint32_t, events::event_type_count> duplicates_by_type{};
};

// One acknowledged body read back from pending_bodies.
struct sqlite_event_store::body_row {
  std::int64_t id = 0;
  std::string received_at;
  std::string body;
  std::string duplicates;  // uint32 LE indexes of the body's duplicate events
  std::uint64_t events = 0;
};

// Each statement belongs to one connection and is used by that connection's thread only.
struct sqlite_event_store::statements {
  // db_ (merger thread; the open and close paths before and after it runs)
  std::array<stmt_ptr, events::event_type_count> insert_event;
  stmt_ptr insert_rejected;
  stmt_ptr record_merged;  // with clear_merged: sqlite_sequence keeps the last merged id
  stmt_ptr clear_merged;
  stmt_ptr select_legacy_pending;
  stmt_ptr delete_legacy_pending;
  stmt_ptr begin;
  stmt_ptr commit;
  stmt_ptr rollback;
  // pending_reader_ (merger thread)
  stmt_ptr select_pending;
  // pending_db_ (writer thread)
  stmt_ptr insert_pending;
  stmt_ptr delete_pending;
  stmt_ptr pending_begin;
  stmt_ptr pending_commit;
  stmt_ptr pending_rollback;
};

namespace {

// Rolls back the connection's open transaction after a failure and resets its statements.
void roll_back(sqlite3* h, sqlite3_stmt* rollback, std::initializer_list<sqlite3_stmt*> used) {
  for (auto* s : used) sqlite3_reset(s);
  if (!sqlite3_get_autocommit(h)) {
    sqlite3_step(rollback);
    sqlite3_reset(rollback);
  }
}

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
  db_->exec("PRAGMA cache_size=-32768");
  migrate(*db_);

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
  for (event_type t : events::all_event_types) {
    std::string sql = "INSERT INTO " + std::string(events::table_name(t)) + " (";
    if (t == event_type::other) sql += "event, ";
    sql += event_columns;
    sql += ") VALUES (";
    const int n = event_column_count + (t == event_type::other ? 1 : 0);
    for (int i = 0; i < n; ++i) sql += i ? ",?" : "?";
    sql += ")";
    st->insert_event[static_cast<std::size_t>(t)] = prepare(h, sql);
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
  rebuild_dedup_index();
  recover_pending();
  sqlite3_wal_hook(h, &sqlite_event_store::on_wal_commit, &tables_wal_);
  sqlite3_wal_hook(ph, &sqlite_event_store::on_wal_commit, &pending_wal_);
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

void sqlite_event_store::rebuild_dedup_index() {
  // Rows arrive in rowid order, so the dedup window is the tail of each table: read it
  // backwards and stop at the first row older than the window.
  const auto now = std::chrono::system_clock::now();
  const std::string cutoff = iso8601_utc(now - options_.dedup_window);
  sqlite3* h = db_->getHandle();
  for (event_type t : events::all_event_types) {
    const bool other = t == event_type::other;
    std::string sql =
        std::string(
            "SELECT sg_event_id, sg_message_id, email, timestamp, url, url_offset_index, "
            "asm_group_id, reason, status, response, attempt, type, ip, useragent, "
            "received_at") +
        (other ? ", event" : "") + " FROM " + std::string(events::table_name(t)) +
        " ORDER BY rowid DESC";
    stmt_ptr s = prepare(h, sql);
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      auto received = column_text(s.get(), 14);
      if (!received || *received < cutoff) {
        rc = SQLITE_DONE;  // the rest of the table is older than the window
        break;
      }
      event e;
      e.kind = t;
      e.event_name = other ? column_text(s.get(), 15).value_or("") : events::wire_name(t);
      e.sg_event_id = column_text(s.get(), 0);
      e.sg_message_id = column_text(s.get(), 1);
      e.email = column_text(s.get(), 2);
      e.timestamp = column_int(s.get(), 3);
      e.url = column_text(s.get(), 4);
      e.url_offset_index = column_int(s.get(), 5);
      e.asm_group_id = column_int(s.get(), 6);
      e.reason = column_text(s.get(), 7);
      e.status = column_text(s.get(), 8);
      e.response = column_text(s.get(), 9);
      e.attempt = column_int(s.get(), 10);
      e.type = column_text(s.get(), 11);
      e.ip = column_text(s.get(), 12);
      e.useragent = column_text(s.get(), 13);
      // The row's own arrival time decides its generation, so it expires on time.
      const auto seen = parse_iso8601(*received);
      if (auto id = events::event_id_key(e)) dedup_->insert(*id, seen);
      dedup_->insert(events::fingerprint_key(e), seen);
    }
    if (rc != SQLITE_DONE) {
      throw store_error("cannot read " + std::string(events::table_name(t)) +
                        " to rebuild the dedup index: " + sqlite3_errmsg(h));
    }
  }
  dedup_size_ = dedup_->size();
  dedup_bytes_ = dedup_->memory_bytes();
}

void sqlite_event_store::add_pending_keys(const body_row& row) {
  auto parsed = events::parse_batch(row.body);
  auto* batch = std::get_if<events::parsed_batch>(&parsed);
  if (!batch) return;  // kept as rejected when merged
  const auto seen = parse_iso8601(row.received_at);
  const auto duplicates =
      decode_indexes(row.duplicates.data(), static_cast<int>(row.duplicates.size()));
  std::size_t next_duplicate = 0;
  for (std::size_t i = 0; i < batch->events.size(); ++i) {
    if (next_duplicate < duplicates.size() && duplicates[next_duplicate] == i) {
      ++next_duplicate;
      continue;
    }
    if (auto id = events::event_id_key(batch->events[i])) dedup_->insert(*id, seen);
    dedup_->insert(events::fingerprint_key(batch->events[i]), seen);
  }
}

std::vector<sqlite_event_store::body_row> sqlite_event_store::read_pending(sqlite3_stmt* select,
                                                             std::int64_t after_id,
                                                             std::size_t max_events) {
  std::vector<body_row> rows;
  std::size_t events = 0;
  sqlite3_bind_int64(select, 1, after_id);
  int rc = SQLITE_DONE;
  while (events < max_events && (rc = sqlite3_step(select)) == SQLITE_ROW) {
    body_row row;
    row.id = sqlite3_column_int64(select, 0);
    row.received_at = std::string(column_text(select, 1).value_or(""));
    const auto* body = static_cast<const char*>(sqlite3_column_blob(select, 2));
    row.body.assign(body ? body : "", static_cast<std::size_t>(sqlite3_column_bytes(select, 2)));
    const auto* dups = static_cast<const char*>(sqlite3_column_blob(select, 3));
    row.duplicates.assign(dups ? dups : "",
                          static_cast<std::size_t>(sqlite3_column_bytes(select, 3)));
    row.events = static_cast<std::uint64_t>(sqlite3_column_int64(select, 4));
    events += row.events;
    rows.push_back(std::move(row));
  }
  const char* error =
      rc == SQLITE_ROW || rc == SQLITE_DONE ? nullptr : sqlite3_errmsg(sqlite3_db_handle(select));
  const std::string message = error ? error : "";
  sqlite3_reset(select);  // ends the read transaction: the WAL may start over
  if (error) throw write_failure{"reading pending bodies: " + message};
  return rows;
}

void sqlite_event_store::recover_pending() {
  sqlite3* h = db_->getHandle();
  statements& st = *statements_;
  // Bodies a crash left in the pending file after their merge committed: merged already.
  delete_merged_bodies(merged_through_.load());
  // Raise the id sequence past the last merged id: a new or replaced pending file must not hand
  // out ids that count as merged.
  const std::int64_t through = merged_through_.load();
  pending_db_->exec("INSERT INTO sqlite_sequence (name, seq) SELECT 'pending_bodies', " +
                    std::to_string(through) +
                    " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = "
                    "'pending_bodies')");
  pending_db_->exec("UPDATE sqlite_sequence SET seq = " + std::to_string(through) +
                    " WHERE name = 'pending_bodies' AND seq < " + std::to_string(through));

  // Bodies acknowledged into the tables' own file by an older version: merge them now, in
  // transactions that delete them there (so each is in exactly one place).
  for (;;) {
    auto rows = read_pending(st.select_legacy_pending.get(), 0, options_.merge_max_events);
    if (rows.empty()) break;
    for (const auto& row : rows) add_pending_keys(row);
    try {
      check(h, sqlite3_step(st.begin.get()), "BEGIN");
      sqlite3_reset(st.begin.get());
      const std::int64_t last = rows.back().id;
      insert_bodies(rows);
      sqlite3_bind_int64(st.delete_legacy_pending.get(), 1, last);
      check(h, sqlite3_step(st.delete_legacy_pending.get()), "DELETE pending bodies");
      sqlite3_reset(st.delete_legacy_pending.get());
      check(h, sqlite3_step(st.commit.get()), "COMMIT");
      sqlite3_reset(st.commit.get());
    } catch (const write_failure& f) {
      roll_back(h, st.rollback.get(),
                {st.delete_legacy_pending.get(), st.begin.get(), st.commit.get()});
      throw store_error("cannot move pending bodies of " + options_.file.string() +
                        " into the event tables: " + f.message);
    }
  }

  merging_events_ = 0;

  // Acknowledged bodies not merged yet: their events count as seen; the merger merges them
  // first thing.
  std::uint64_t pending_events = 0;
  std::int64_t after = merged_through_.load();
  for (;;) {
    auto rows = read_pending(st.select_pending.get(), after, options_.merge_max_events);
    if (rows.empty()) break;
    for (const auto& row : rows) {
      add_pending_keys(row);
      pending_events += row.events;
    }
    after = rows.back().id;
  }
  counters_.pending_events = pending_events;
  dedup_size_ = dedup_->size();
  dedup_bytes_ = dedup_->memory_bytes();
}

void sqlite_event_store::submit(events::parsed_batch batch,
                         std::chrono::system_clock::time_point received_at, write_callback done) {
  const std::size_t n = batch.events.size() + batch.rejected.size();
  {
    std::unique_lock lock(mutex_);
    if (closing_) {
      lock.unlock();
      done(write_result{write_result::outcome::closed, 0, 0, 0, "the store is shutting down"});
      return;
    }
    if (queued_events_ > 0 && queued_events_ + n > options_.max_queued_events) {
      lock.unlock();
      done(write_result{
          write_result::outcome::overloaded, 0, 0, 0,
          "the writer has " + std::to_string(options_.max_queued_events) + " events queued"});
      return;
    }
    pending p{std::move(batch),
              received_at,
              iso8601_utc(received_at),
              std::move(done),
              {},
              {},
              {},
              {},
              {}};
    queue_.push_back(std::move(p));
    queued_events_ += n;
    counters_.queued_events = queued_events_;
  }
  wake_.notify_one();
}

void sqlite_event_store::writer_loop() {
  std::vector<pending> group;
  bool delete_failed = false;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (delete_failed) {
        // Back off after a failed delete (e.g. disk full); new requests still wake us.
        wake_.wait_for(lock, std::chrono::seconds(1), [&] { return !queue_.empty() || closing_; });
        delete_failed = false;
      } else {
        // The merger reports progress without the lock: a short timeout covers a missed wake.
        while (!(!queue_.empty() && admission_budget() != 0) && !closing_ &&
               merged_through_.load() <= deleted_through_) {
          wake_.wait_for(lock, std::chrono::milliseconds(2));
        }
      }
      double budget = queue_.empty() ? 0 : admission_budget();
      if (budget < 0) {
        // The tables cannot be written and the pending file holds as much as it should:
        // refuse, so that SendGrid retries later, rather than hold the requests.
        std::vector<pending> refused;
        while (!queue_.empty()) {
          refused.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        queued_events_ = 0;
        counters_.queued_events = 0;
        const std::string reason = "the event tables cannot be written (" + last_error_ + ") and " +
                                   std::to_string(counters_.pending_events.load()) +
                                   " acknowledged events already wait for them";
        lock.unlock();
        for (auto& p : refused)
          p.done(write_result{write_result::outcome::failed, 0, 0, 0, reason});
        continue;
      }
      const bool paced = budget < unpaced;
      std::size_t events_in_group = 0;
      while (!queue_.empty() && budget > 0 &&
             (group.empty() || events_in_group < options_.max_group_events)) {
        const std::size_t n =
            queue_.front().batch.events.size() + queue_.front().batch.rejected.size();
        events_in_group += n;
        budget -= static_cast<double>(n);
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (paced) admission_tokens_ = budget;
      queued_events_ -= std::min(queued_events_, events_in_group);
      counters_.queued_events = queued_events_;
      if (group.empty() && closing_) {
        writer_done_ = true;
        merge_wake_.notify_all();
        return;
      }
    }
    if (pending_wal_.restart_pending.load()) yield_to_checkpoint(pending_wal_);
    if (!group.empty()) {
      write_group(group);
      group.clear();  // frees the bodies and parsed events: the database has them now
      continue;
    }
    // Nothing waits: just delete what the merger has moved into the tables.
    try {
      delete_merged_bodies(merged_through_.load());
    } catch (const write_failure& f) {
      delete_failed = true;
      std::lock_guard lock(mutex_);
      last_error_ = "deleting merged bodies failed: " + f.message;
    }
  }
}

double sqlite_event_store::admission_budget() {
  // Back-pressure, so that the tables never fall far behind: once a quarter of the high-water
  // mark is pending, requests are admitted at about the merger's pace (faster when little is
  // pending, slower when much is), and past the mark not at all. Paced, the pending bodies
  // absorb the merger's pauses (commits, checkpoints) instead of passing them on to the
  // requests. When merging fails (the tables' file is locked or full), requests are admitted
  // unpaced up to the mark (the bodies are safe in the pending file) and refused past it.
  const auto now = std::chrono::steady_clock::now();
  const auto pending = counters_.pending_events.load();
  const double waiting = static_cast<double>(pending - std::min(pending, merging_events_.load()));
  const double high = static_cast<double>(options_.pending_high_water);
  const double low = high / 4;
  const double rate = merge_rate_.load();
  if (counters_.last_merge_failed.load() && !closing_) {
    return waiting < high ? unpaced : refuse;
  }
  if (!closing_ && waiting >= high) return 0;
  if (closing_ || waiting < low || rate <= 0) {
    admission_tokens_ = 0;
    last_admission_refill_ = now;
    return unpaced;
  }
  // 1.25x the merge rate at the low mark down to 0.75x at the high mark: the backlog settles
  // in between, where it can absorb a slow merge.
  const double pace = rate * (1.25 - 0.5 * (waiting - low) / (high - low));
  const double elapsed = std::chrono::duration<double>(now - last_admission_refill_).count();
  last_admission_refill_ = now;
  // At most a few milliseconds' worth at once, so admissions stay evenly spread.
  admission_tokens_ = std::min(admission_tokens_ + pace * elapsed, pace * 0.005);
  // A group may take more than the tokens (a batch is admitted whole), leaving a debt that
  // later refills repay: wait for it, never report it as `refuse` (a negative budget), which
  // would turn the queue away as "the event tables cannot be written".
  return std::max(admission_tokens_, 0.0);
}

void sqlite_event_store::write_group(std::vector<pending>& group) {
  std::vector<pending*> all;
  all.reserve(group.size());
  for (auto& p : group) all.push_back(&p);
  std::string error;
  int code = SQLITE_OK;
  bool ok = try_write(all, error, code);
  if (!ok && group.size() > 1 && !fails_every_batch(code)) {
    // Retry each batch alone: a batch SQLite cannot take must not fail its neighbours.
    for (auto& p : group) {
      std::vector<pending*> one{&p};
      std::string one_error;
      if (!try_write(one, one_error, code)) {
        p.result = write_result{write_result::outcome::failed, 0, 0, 0, one_error};
        error = one_error;
      }
    }
  } else if (!ok) {
    for (auto& p : group) p.result = write_result{write_result::outcome::failed, 0, 0, 0, error};
  }
  {
    std::lock_guard lock(mutex_);
    if (!error.empty()) last_error_ = error;
  }
  for (auto& p : group) p.done(p.result);
}

void sqlite_event_store::delete_merged_bodies(std::int64_t through_id) {
  if (through_id <= deleted_through_) return;
  sqlite3* h = pending_db_->getHandle();
  sqlite3_stmt* s = statements_->delete_pending.get();
  sqlite3_bind_int64(s, 1, through_id);
  const int rc = sqlite3_step(s);
  sqlite3_reset(s);
  check(h, rc, "DELETE merged bodies");
  deleted_through_ = through_id;
  // A commit to the pending file proves it writable again (after a full disk was freed, say),
  // even when no request has come since to say so.
  counters_.last_commit_failed = false;
}

bool sqlite_event_store::try_write(const std::vector<pending*>& batch, std::string& error,
                            int& error_code) {
  sqlite3* h = pending_db_->getHandle();
  statements& st = *statements_;
  // Sized once for the group's keys: rehashing on the writer thread is time the
  // commit of every waiting request pays for.
  std::unordered_set<events::dedup_key, dedup_key_hash> group_keys;
  std::size_t group_events = 0;
  for (const pending* p : batch) group_events += p->batch.events.size();
  group_keys.reserve(2 * group_events);
  std::uint64_t journaled_events = 0;
  const std::int64_t delete_through = merged_through_.load();
  const auto started = std::chrono::steady_clock::now();
  try {
    check(h, sqlite3_step(st.pending_begin.get()), "BEGIN");
    sqlite3_reset(st.pending_begin.get());
    // Bodies merged since the last commit leave the pending file in this same transaction.
    if (delete_through > deleted_through_) {
      sqlite3_bind_int64(st.delete_pending.get(), 1, delete_through);
      check(h, sqlite3_step(st.delete_pending.get()), "DELETE merged bodies");
      sqlite3_reset(st.delete_pending.get());
    }
    for (pending* p : batch) {
      p->result = write_result{write_result::outcome::committed, 0, 0, 0, {}};
      p->new_keys.clear();
      p->duplicate_indexes.clear();
      p->stored_by_type.fill(0);
      p->duplicates_by_type.fill(0);
      for (std::size_t i = 0; i < p->batch.events.size(); ++i) {
        const event& e = p->batch.events[i];
        const auto type_index = static_cast<std::size_t>(e.kind);
        const std::optional<events::dedup_key> id = events::event_id_key(e);
        const events::dedup_key fp = events::fingerprint_key(e);
        const bool duplicate = (id && (dedup_->contains(*id) || group_keys.contains(*id))) ||
                               dedup_->contains(fp) || group_keys.contains(fp);
        if (duplicate) {
          const auto index = static_cast<std::uint32_t>(i);
          const char le[4] = {
              static_cast<char>(index & 0xff), static_cast<char>((index >> 8) & 0xff),
              static_cast<char>((index >> 16) & 0xff), static_cast<char>((index >> 24) & 0xff)};
          p->duplicate_indexes.append(le, 4);
          ++p->result.duplicates;
          ++p->duplicates_by_type[type_index];
          continue;
        }
        if (id) {
          group_keys.insert(*id);
          p->new_keys.push_back(*id);
        }
        group_keys.insert(fp);
        p->new_keys.push_back(fp);
        ++p->result.stored;
        ++p->stored_by_type[type_index];
      }
      p->result.rejected = p->batch.rejected.size();
      if (p->result.stored == 0 && p->result.rejected == 0) continue;  // nothing to keep
      sqlite3_stmt* s = st.insert_pending.get();
      sqlite3_bind_text(s, 1, p->received_at_text.data(),
                        static_cast<int>(p->received_at_text.size()), SQLITE_STATIC);
      const std::string_view body = p->batch.body();
      sqlite3_bind_blob(s, 2, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
      sqlite3_bind_int64(s, 3, static_cast<sqlite3_int64>(p->result.stored + p->result.rejected));
      if (p->duplicate_indexes.empty()) {
        sqlite3_bind_null(s, 4);
      } else {
        sqlite3_bind_blob(s, 4, p->duplicate_indexes.data(),
                          static_cast<int>(p->duplicate_indexes.size()), SQLITE_STATIC);
      }
      check(h, sqlite3_step(s), "INSERT pending body");
      sqlite3_reset(s);
      journaled_events += p->result.stored + p->result.rejected;
    }
    // Counted before the commit is visible to the merger, so the count never goes below what
    // the merger can see and subtract.
    counters_.pending_events.fetch_add(journaled_events);
    const int rc = sqlite3_step(st.pending_commit.get());
    sqlite3_reset(st.pending_commit.get());
    if (rc != SQLITE_DONE) counters_.pending_events.fetch_sub(journaled_events);
    check(h, rc, "COMMIT");
  } catch (const write_failure& f) {
    error = f.message;
    error_code = f.code;
    roll_back(h, st.pending_rollback.get(),
              {st.insert_pending.get(), st.delete_pending.get(), st.pending_begin.get(),
               st.pending_commit.get()});
    counters_.failed_commits.fetch_add(1);
    counters_.last_commit_failed = true;
    return false;
  }
  if (delete_through > deleted_through_) deleted_through_ = delete_through;
  // Durable now: only from here on do the keys count as seen.
  std::int64_t newest_ms = 0;
  for (pending* p : batch) {
    for (const auto& k : p->new_keys) dedup_->insert(k, p->received_at);
    for (std::size_t i = 0; i < events::event_type_count; ++i) {
      if (p->stored_by_type[i]) counters_.stored[i].fetch_add(p->stored_by_type[i]);
      if (p->duplicates_by_type[i]) counters_.duplicates[i].fetch_add(p->duplicates_by_type[i]);
    }
    if (p->result.rejected) counters_.rejected.fetch_add(p->result.rejected);
    if (p->result.stored) {
      newest_ms = std::max<std::int64_t>(
          newest_ms,
          std::chrono::duration_cast<std::chrono::milliseconds>(p->received_at.time_since_epoch())
              .count());
    }
  }
  dedup_->expire(std::chrono::system_clock::now());
  dedup_size_ = dedup_->size();
  dedup_bytes_ = dedup_->memory_bytes();
  if (newest_ms > counters_.last_event_unix_ms.load()) counters_.last_event_unix_ms = newest_ms;
  counters_.commits.fetch_add(1);
  counters_.commit_latency.observe(std::chrono::steady_clock::now() - started);
  counters_.last_commit_failed = false;
  if (journaled_events) {
    {
      std::lock_guard lock(mutex_);
      ++acknowledged_groups_;
    }
    merge_wake_.notify_one();
  }
  return true;
}

void sqlite_event_store::merger_loop() {
  bool failed = false;
  auto last_merge_end = std::chrono::steady_clock::time_point{};
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (failed) {
        // Back off after a failed merge (e.g. disk full); the bodies stay pending meanwhile.
        merge_wake_.wait_for(lock, std::chrono::seconds(1), [&] { return writer_done_; });
        // At shutdown a failing merge leaves the bodies pending: the next start merges them.
        if (writer_done_) return;
      }
      merge_wake_.wait(lock, [&] { return counters_.pending_events.load() > 0 || writer_done_; });
      if (counters_.pending_events.load() == 0 && writer_done_) return;
      // Merge in large transactions: wait until enough is pending or the requests pause.
      while (!writer_done_ && counters_.pending_events.load() < options_.merge_after_events) {
        const auto groups = acknowledged_groups_;
        merge_wake_.wait_for(lock, options_.merge_idle_delay, [&] {
          return writer_done_ || counters_.pending_events.load() >= options_.merge_after_events;
        });
        if (acknowledged_groups_ == groups) break;  // no new commit meanwhile: requests paused
      }
    }
    const auto started = std::chrono::steady_clock::now();
    // Backlogged (no wait since the last merge): the rate counts the whole cycle, pauses too.
    const auto cycle_start =
        started - last_merge_end < std::chrono::milliseconds(5) ? last_merge_end : started;
    if (tables_wal_.restart_pending.load()) yield_to_checkpoint(tables_wal_);
    std::uint64_t moved = 0;
    failed = !merge_once(moved);
    last_merge_end = std::chrono::steady_clock::now();
    if (!failed && moved > 0) {
      const double seconds = std::chrono::duration<double>(last_merge_end - cycle_start).count();
      if (seconds > 0) {
        const double sample = static_cast<double>(moved) / seconds;
        const double old_rate = merge_rate_.load();
        merge_rate_ = old_rate <= 0 ? sample : 0.7 * old_rate + 0.3 * sample;
      }
    }
  }
}

bool sqlite_event_store::merge_once(std::uint64_t& moved) {
  sqlite3* h = db_->getHandle();
  statements& st = *statements_;
  std::vector<body_row> rows;
  try {
    rows = read_pending(st.select_pending.get(), merged_through_.load(), options_.merge_max_events);
  } catch (const write_failure& f) {
    counters_.failed_merges.fetch_add(1);
    counters_.last_merge_failed = true;
    std::lock_guard lock(mutex_);
    last_error_ = f.message;
    return false;
  }
  if (rows.empty()) {
    // Counted but not committed yet (see try_write): let the writer finish its commit.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return true;
  }
  std::uint64_t moved_events = 0;
  for (const auto& row : rows) moved_events += row.events;
  const std::int64_t last_id = rows.back().id;
  try {
    check(h, sqlite3_step(st.begin.get()), "BEGIN");
    sqlite3_reset(st.begin.get());
    insert_bodies(rows);
    sqlite3_bind_int64(st.record_merged.get(), 1, last_id);
    check(h, sqlite3_step(st.record_merged.get()), "INSERT merged_bodies");
    sqlite3_reset(st.record_merged.get());
    check(h, sqlite3_step(st.clear_merged.get()), "DELETE merged_bodies");
    sqlite3_reset(st.clear_merged.get());
    check(h, sqlite3_step(st.commit.get()), "COMMIT");
    sqlite3_reset(st.commit.get());
  } catch (const write_failure& f) {
    std::initializer_list<sqlite3_stmt*> used = {st.insert_rejected.get(), st.record_merged.get(),
                                                 st.clear_merged.get(), st.begin.get(),
                                                 st.commit.get()};
    roll_back(h, st.rollback.get(), used);
    for (auto& s : st.insert_event) sqlite3_reset(s.get());
    merging_events_ = 0;
    counters_.failed_merges.fetch_add(1);
    counters_.last_merge_failed = true;
    std::lock_guard lock(mutex_);
    last_error_ =
        "moving acknowledged bodies into the event tables failed (they stay pending "
        "and are retried): " +
        f.message;
    return false;
  }
  // In this order, the writer never sees fewer events waiting than there are.
  merging_events_ = 0;
  counters_.pending_events.fetch_sub(moved_events);
  counters_.merges.fetch_add(1);
  counters_.last_merge_failed = false;
  moved = moved_events;
  {
    std::lock_guard lock(mutex_);
    merged_through_ = last_id;
  }
  wake_.notify_one();  // the writer deletes the merged bodies
  return true;
}

void sqlite_event_store::insert_bodies(const std::vector<body_row>& rows) {
  sqlite3* h = db_->getHandle();
  statements& st = *statements_;
  for (const auto& row : rows) {
    auto parsed = events::parse_batch(row.body);
    if (auto* err = std::get_if<events::batch_error>(&parsed)) {
      // It parsed when it arrived; if it no longer does, keep it rather than lose it.
      const std::string reason = "pending body no longer parses: " + err->message;
      sqlite3_stmt* s = st.insert_rejected.get();
      sqlite3_bind_text(s, 1, reason.data(), static_cast<int>(reason.size()), SQLITE_TRANSIENT);
      sqlite3_bind_text(s, 2, row.body.data(), static_cast<int>(row.body.size()), SQLITE_STATIC);
      sqlite3_bind_text(s, 3, row.received_at.data(), static_cast<int>(row.received_at.size()),
                        SQLITE_STATIC);
      check(h, sqlite3_step(s), "INSERT rejected body");
      sqlite3_reset(s);
      continue;
    }
    insert_events(std::get<events::parsed_batch>(parsed), row.duplicates, row.received_at);
    merging_events_.fetch_add(row.events);
    wake_.notify_one();  // a writer held back by the high-water mark may go on
  }
}

void sqlite_event_store::insert_events(const events::parsed_batch& batch,
                                const std::string& duplicate_indexes,
                                std::string_view received_at) {
  sqlite3* h = db_->getHandle();
  statements& st = *statements_;
  const auto duplicates =
      decode_indexes(duplicate_indexes.data(), static_cast<int>(duplicate_indexes.size()));
  std::size_t next_duplicate = 0;
  for (std::size_t i = 0; i < batch.events.size(); ++i) {
    if (next_duplicate < duplicates.size() && duplicates[next_duplicate] == i) {
      ++next_duplicate;
      continue;
    }
    const event& e = batch.events[i];
    sqlite3_stmt* s = st.insert_event[static_cast<std::size_t>(e.kind)].get();
    int first = 1;
    if (e.kind == event_type::other) {
      sqlite3_bind_text(s, 1, e.event_name.data(), static_cast<int>(e.event_name.size()),
                        SQLITE_STATIC);
      first = 2;
    }
    bind_event(s, first, e, received_at);
    check(h, sqlite3_step(s), "INSERT event");
    sqlite3_reset(s);
  }
  for (const auto& r : batch.rejected) {
    sqlite3_stmt* s = st.insert_rejected.get();
    sqlite3_bind_text(s, 1, r.reason.data(), static_cast<int>(r.reason.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 2, r.raw.data(), static_cast<int>(r.raw.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 3, received_at.data(), static_cast<int>(received_at.size()),
                      SQLITE_STATIC);
    check(h, sqlite3_step(s), "INSERT rejected event");
    sqlite3_reset(s);
  }
}

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
