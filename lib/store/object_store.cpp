// The SQLite object store: staging, sorted merge, tombstones and sync_runs on its own
// connection (the collections' columns and rows: object_rows.cpp).
#include "store/object_store.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include "store/account_tables.hpp"
#include "store/migrations.hpp"
#include "store/sqlite_object_store.hpp"

namespace sgs::store {

namespace {

struct stmt_deleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_deleter>;

[[noreturn]] void fail(sqlite3* db, std::string_view what) {
  throw object_store_error(std::string(what) + ": " + sqlite3_errmsg(db));
}

stmt_ptr prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &s, nullptr) != SQLITE_OK) {
    fail(db, "cannot prepare " + sql);
  }
  return stmt_ptr(s);
}

void bind_text(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}

// Runs a statement that returns no rows (or ignores them) and resets it.
void run(sqlite3* db, sqlite3_stmt* s, std::string_view what) {
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
  }
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) fail(db, what);
}

// Scoped BEGIN IMMEDIATE ... COMMIT on the raw handle; rolls back unless committed.
class write_tx {
 public:
  write_tx(SQLite::Database& db, const char* begin = "BEGIN IMMEDIATE") : db_(db) {
    db_.exec(begin);
    open_ = true;
  }
  ~write_tx() {
    if (open_) sqlite3_exec(db_.getHandle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    db_.exec("COMMIT");
    open_ = false;
  }

 private:
  SQLite::Database& db_;
  bool open_ = false;
};

std::string join_columns(collection c, std::string_view prefix = {}) {
  std::string out;
  for (auto col : columns(c)) {
    if (!out.empty()) out += ", ";
    out += prefix;
    out += col;
  }
  return out;
}

std::string stage_table(collection c) { return "stage_" + std::string(collection_name(c)); }

}  // namespace

struct sqlite_object_store::statements {
  stmt_ptr stage_insert;
  stmt_ptr chunk_bound;  // the id that ends the next chunk
  stmt_ptr merge_chunk;  // id in (lo, hi]
  stmt_ptr merge_tail;   // id > lo
  stmt_ptr max_rowid;
  stmt_ptr tombstone_range;
  stmt_ptr begin_run;
  stmt_ptr finish_run;
};

sqlite_object_store::sqlite_object_store(const object_store_options& options) : options_(options) {}

sqlite_object_store::~sqlite_object_store() {
  try {
    if (current_) end_collection();
  } catch (...) {
    // Destructors never throw; the temp table goes away with the connection anyway.
  }
  st_.reset();
}

std::unique_ptr<sqlite_object_store> sqlite_object_store::open(
    const object_store_options& options) {
  std::unique_ptr<sqlite_object_store> store(new sqlite_object_store(options));
  try {
    std::error_code ec;
    if (options.file.has_parent_path())
      std::filesystem::create_directories(options.file.parent_path(), ec);
    store->db_ = std::make_unique<SQLite::Database>(
        options.file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX);
    auto& db = *store->db_;
    db.setBusyTimeout(static_cast<int>(options.busy_timeout.count()));
    db.exec("PRAGMA journal_mode=WAL");
    db.exec(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    db.exec("PRAGMA cache_size=" + std::to_string(options.cache_size));
    // The stage may hold a million contacts: it must spill to a file, not grow the heap.
    db.exec("PRAGMA temp_store=FILE");
    try {
      migrate(db);
    } catch (const migration_error&) {
      // Another connection (the event store, another process) may have migrated the file
      // between our read of user_version and our transaction: fine if it is now current.
      if (db.execAndGet("PRAGMA user_version").getInt() != latest_schema_version()) throw;
    }
    sqlite3* h = db.getHandle();
    auto st = std::make_unique<statements>();
    st->max_rowid = prepare(h, "SELECT 0");  // replaced per collection
    st->begin_run =
        prepare(h,
                "INSERT INTO sync_runs (run_id, source, collection, started_at, status) "
                "VALUES (?1, ?2, ?3, ?4, 'running')");
    st->finish_run =
        prepare(h,
                "UPDATE sync_runs SET status=?2, source_api=?3, pages=?4, rows_seen=?5, "
                "rows_upserted=?6, rows_tombstoned=?7, http_retries=?8, rate_limit_waits=?9, "
                "finished_at=?10, error=?11 WHERE id=?1");
    store->st_ = std::move(st);
  } catch (const SQLite::Exception& e) {
    throw object_store_error("cannot open " + options.file.string() + ": " + e.what());
  } catch (const migration_error& e) {
    throw object_store_error(e.what());
  }
  return store;
}

void sqlite_object_store::begin_collection(collection c) {
  if (current_) end_collection();
  auto& db = *db_;
  sqlite3* h = db.getHandle();
  const std::string stage = stage_table(c);
  const std::string table(collection_name(c));
  try {
    db.exec("DROP TABLE IF EXISTS temp." + stage);
    db.exec("CREATE TEMP TABLE " + stage + " (" + join_columns(c) + ")");
  } catch (const SQLite::Exception& e) {
    throw object_store_error("cannot create the staging table for " + table + ": " + e.what());
  }
  std::string placeholders;
  for (std::size_t i = 0; i < columns(c).size(); ++i) placeholders += i ? ",?" : "?";
  st_->stage_insert = prepare(h, "INSERT INTO temp." + stage + " VALUES (" + placeholders + ")");

  // The upsert: excluded.* is the staged row. Only a changed, revived or re-sourced row is
  // written; an unchanged one costs a read.
  std::string set;
  for (auto col : columns(c)) {
    if (col == "id") continue;
    set += std::string(col) + "=excluded." + std::string(col) + ", ";
  }
  set += "source_api=excluded.source_api, synced_at=excluded.synced_at, deleted_at=NULL";
  const std::string merge_head = "INSERT INTO " + table + " (" + join_columns(c) +
                                 ", source_api, synced_at, deleted_at) SELECT " + join_columns(c) +
                                 ", ?1, ?2, NULL FROM temp." + stage + " WHERE id > ?3";
  const std::string merge_tail_sql = " ORDER BY id ON CONFLICT(id) DO UPDATE SET " + set +
                                     " WHERE " + table + ".raw IS NOT excluded.raw OR " + table +
                                     ".deleted_at IS NOT NULL OR " + table +
                                     ".source_api IS NOT excluded.source_api";
  st_->merge_chunk = prepare(h, merge_head + " AND id <= ?4" + merge_tail_sql);
  st_->merge_tail = prepare(h, merge_head + merge_tail_sql);
  st_->max_rowid = prepare(h, "SELECT coalesce(max(rowid), 0) FROM " + table);
  st_->tombstone_range = prepare(h, "UPDATE " + table +
                                        " SET deleted_at=?1 WHERE rowid > ?2 AND rowid <= ?3 AND "
                                        "deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM temp." +
                                        stage + " s WHERE s.id = " + table + ".id)");
  st_->chunk_bound.reset();
  current_ = c;
  staged_ = 0;
  in_stage_tx_ = 0;
}

void sqlite_object_store::stage(const object_row& row) {
  if (!current_ || row.kind() != *current_) {
    throw object_store_error("stage(): the row is not of the collection begun");
  }
  sqlite3* h = db_->getHandle();
  if (in_stage_tx_ == 0) db_->exec("BEGIN");
  sqlite3_stmt* s = st_->stage_insert.get();
  const int n = static_cast<int>(columns(*current_).size());
  for (int i = 0; i < n; ++i) {
    const auto& c = row.at(i);
    switch (c.t) {
      case object_row::cell::type::null:
        sqlite3_bind_null(s, i + 1);
        break;
      case object_row::cell::type::integer:
        sqlite3_bind_int64(s, i + 1, c.i);
        break;
      case object_row::cell::type::text:
      case object_row::cell::type::owned:
        bind_text(s, i + 1, row.text_at(i));
        break;
    }
  }
  run(h, s, "cannot stage a row");
  ++staged_;
  if (++in_stage_tx_ >= options_.stage_batch_rows) flush_stage();
}

void sqlite_object_store::flush_stage() {
  if (in_stage_tx_ == 0) return;
  db_->exec("COMMIT");
  in_stage_tx_ = 0;
}

std::int64_t sqlite_object_store::merge(std::string_view source_api, std::string_view synced_at,
                                        const std::function<bool()>& keep_going) {
  if (!current_) throw object_store_error("merge() without begin_collection()");
  auto& db = *db_;
  sqlite3* h = db.getHandle();
  const std::string stage = stage_table(*current_);
  const std::string table(collection_name(*current_));
  std::int64_t changed = 0;
  try {
    flush_stage();
    // Sorting once here (SQLite's external sort, memory bounded by the cache) is what lets
    // every chunk below be a contiguous id range.
    db.exec("CREATE INDEX IF NOT EXISTS temp." + stage + "_id ON " + stage + " (id)");
    if (!st_->chunk_bound) {
      st_->chunk_bound = prepare(
          h, "SELECT id FROM temp." + stage + " WHERE id > ?1 ORDER BY id LIMIT 1 OFFSET ?2");
    }
    std::string lo;  // ids are never empty (the sync skips objects without one)
    while (keep_going()) {
      sqlite3_stmt* bound = st_->chunk_bound.get();
      bind_text(bound, 1, lo);
      sqlite3_bind_int64(bound, 2, static_cast<std::int64_t>(options_.merge_batch_rows) - 1);
      std::optional<std::string> hi;
      int rc = sqlite3_step(bound);
      if (rc == SQLITE_ROW) {
        hi.emplace(reinterpret_cast<const char*>(sqlite3_column_text(bound, 0)),
                   static_cast<std::size_t>(sqlite3_column_bytes(bound, 0)));
      } else if (rc != SQLITE_DONE) {
        sqlite3_reset(bound);
        fail(h, "cannot read the staged " + table);
      }
      sqlite3_reset(bound);

      sqlite3_stmt* m = hi ? st_->merge_chunk.get() : st_->merge_tail.get();
      bind_text(m, 1, source_api);
      bind_text(m, 2, synced_at);
      bind_text(m, 3, lo);
      if (hi) bind_text(m, 4, *hi);
      write_tx tx(db);
      run(h, m, "cannot merge staged rows into " + table);
      changed += sqlite3_changes(h);
      tx.commit();
      if (!hi) break;
      lo = std::move(*hi);
    }
  } catch (const SQLite::Exception& e) {
    throw object_store_error("cannot merge staged rows into " + table + ": " + e.what());
  }
  return changed;
}

std::int64_t sqlite_object_store::tombstone(std::string_view deleted_at,
                                            const std::function<bool()>& keep_going) {
  if (!current_) throw object_store_error("tombstone() without begin_collection()");
  auto& db = *db_;
  sqlite3* h = db.getHandle();
  const std::string stage = stage_table(*current_);
  const std::string table(collection_name(*current_));
  std::int64_t tombstoned = 0;
  try {
    flush_stage();
    db.exec("CREATE INDEX IF NOT EXISTS temp." + stage + "_id ON " + stage + " (id)");
    std::int64_t max_rowid = 0;
    {
      sqlite3_stmt* s = st_->max_rowid.get();
      if (sqlite3_step(s) == SQLITE_ROW) max_rowid = sqlite3_column_int64(s, 0);
      sqlite3_reset(s);
    }
    // Rowid ranges, not one statement: each transaction stays short for the event writer.
    const auto step = static_cast<std::int64_t>(options_.merge_batch_rows) * 4;
    for (std::int64_t lo = 0; lo < max_rowid && keep_going(); lo += step) {
      sqlite3_stmt* s = st_->tombstone_range.get();
      bind_text(s, 1, deleted_at);
      sqlite3_bind_int64(s, 2, lo);
      sqlite3_bind_int64(s, 3, lo + step);
      write_tx tx(db);
      run(h, s, "cannot tombstone rows of " + table);
      tombstoned += sqlite3_changes(h);
      tx.commit();
    }
  } catch (const SQLite::Exception& e) {
    throw object_store_error("cannot tombstone rows of " + table + ": " + e.what());
  }
  return tombstoned;
}

void sqlite_object_store::end_collection() {
  if (!current_) return;
  const std::string stage = stage_table(*current_);
  current_.reset();
  st_->stage_insert.reset();
  st_->chunk_bound.reset();
  st_->merge_chunk.reset();
  st_->merge_tail.reset();
  st_->tombstone_range.reset();
  try {
    if (in_stage_tx_ > 0) {
      in_stage_tx_ = 0;
      db_->exec("ROLLBACK");
    }
    db_->exec("DROP TABLE IF EXISTS temp." + stage);
  } catch (const SQLite::Exception& e) {
    throw object_store_error("cannot drop the staging table " + stage + ": " + e.what());
  }
}

std::int64_t sqlite_object_store::begin_run(std::string_view run_id, std::string_view source,
                                            collection c, std::string_view started_at) {
  flush_stage();  // the run record must not join a staging transaction that may roll back
  sqlite3* h = db_->getHandle();
  sqlite3_stmt* s = st_->begin_run.get();
  bind_text(s, 1, run_id);
  bind_text(s, 2, source);
  bind_text(s, 3, collection_name(c));
  bind_text(s, 4, started_at);
  run(h, s, "cannot record the start of a sync run");
  return sqlite3_last_insert_rowid(h);
}

void sqlite_object_store::finish_run(std::int64_t run_row, run_status status,
                                     std::string_view source_api, const run_counts& counts,
                                     std::string_view finished_at, std::string_view error) {
  flush_stage();
  sqlite3* h = db_->getHandle();
  sqlite3_stmt* s = st_->finish_run.get();
  sqlite3_bind_int64(s, 1, run_row);
  bind_text(s, 2, run_status_name(status));
  if (source_api.empty()) {
    sqlite3_bind_null(s, 3);
  } else {
    bind_text(s, 3, source_api);
  }
  sqlite3_bind_int64(s, 4, counts.pages);
  sqlite3_bind_int64(s, 5, counts.rows_seen);
  sqlite3_bind_int64(s, 6, counts.rows_upserted);
  sqlite3_bind_int64(s, 7, counts.rows_tombstoned);
  sqlite3_bind_int64(s, 8, counts.http_retries);
  sqlite3_bind_int64(s, 9, counts.rate_limit_waits);
  bind_text(s, 10, finished_at);
  if (error.empty()) {
    sqlite3_bind_null(s, 11);
  } else {
    bind_text(s, 11, error);
  }
  run(h, s, "cannot record the end of a sync run");
}

std::vector<sync_run_record> sqlite_object_store::recent_runs(std::size_t limit) {
  std::vector<sync_run_record> out;
  try {
    SQLite::Statement q(
        *db_,
        "SELECT run_id, collection, coalesce(source_api,''), started_at, coalesce(finished_at,''), "
        "status, pages, rows_seen, rows_upserted, rows_tombstoned, http_retries, rate_limit_waits, "
        "coalesce(error,'') FROM sync_runs ORDER BY id DESC LIMIT ?");
    q.bind(1, static_cast<std::int64_t>(limit));
    while (q.executeStep()) {
      sync_run_record r;
      r.run_id = q.getColumn(0).getString();
      r.collection = q.getColumn(1).getString();
      r.source_api = q.getColumn(2).getString();
      r.started_at = q.getColumn(3).getString();
      r.finished_at = q.getColumn(4).getString();
      r.status = q.getColumn(5).getString();
      r.counts.pages = q.getColumn(6).getInt64();
      r.counts.rows_seen = q.getColumn(7).getInt64();
      r.counts.rows_upserted = q.getColumn(8).getInt64();
      r.counts.rows_tombstoned = q.getColumn(9).getInt64();
      r.counts.http_retries = q.getColumn(10).getInt64();
      r.counts.rate_limit_waits = q.getColumn(11).getInt64();
      r.error = q.getColumn(12).getString();
      out.push_back(std::move(r));
    }
  } catch (const SQLite::Exception& e) {
    throw object_store_error(std::string("cannot read sync_runs: ") + e.what());
  }
  return out;
}

std::string sqlite_object_store::last_success(collection c) {
  try {
    SQLite::Statement q(
        *db_,
        "SELECT coalesce(max(finished_at), '') FROM sync_runs WHERE collection=? AND "
        "status='succeeded'");
    q.bind(1, std::string(collection_name(c)));
    q.executeStep();
    return q.getColumn(0).getString();
  } catch (const SQLite::Exception& e) {
    throw object_store_error(std::string("cannot read sync_runs: ") + e.what());
  }
}

std::string sqlite_object_store::last_status(collection c) {
  try {
    SQLite::Statement q(
        *db_, "SELECT status FROM sync_runs WHERE collection = ? ORDER BY id DESC LIMIT 1");
    q.bind(1, std::string(collection_name(c)));
    if (q.executeStep()) return q.getColumn(0).getString();
    return {};
  } catch (const SQLite::Exception& e) {
    throw object_store_error(std::string("cannot read sync_runs: ") + e.what());
  }
}

std::string sqlite_object_store::state(std::string_view key) {
  try {
    SQLite::Statement q(*db_, "SELECT value FROM sync_state WHERE key = ?");
    q.bind(1, std::string(key));
    if (q.executeStep()) return q.getColumn(0).getString();
    return {};
  } catch (const SQLite::Exception& e) {
    throw object_store_error(std::string("cannot read sync_state: ") + e.what());
  }
}

void sqlite_object_store::set_state(std::string_view key, std::string_view value,
                                    std::string_view updated_at) {
  flush_stage();
  try {
    SQLite::Statement q(*db_,
                        "INSERT INTO sync_state (key, value, updated_at) VALUES (?1, ?2, ?3) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                        "updated_at = excluded.updated_at");
    q.bind(1, std::string(key));
    q.bind(2, std::string(value));
    q.bind(3, std::string(updated_at));
    q.exec();
  } catch (const SQLite::Exception& e) {
    throw object_store_error(std::string("cannot write sync_state: ") + e.what());
  }
}

}  // namespace sgs::store
