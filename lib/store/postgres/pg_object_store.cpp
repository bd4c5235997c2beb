// The PostgreSQL object store: COPY staging, chunked upserts, tombstones, sync_runs, the sync lock.
#include "store/postgres/pg_object_store.hpp"

#include "store/postgres/pg_connection.hpp"
#include "store/postgres/pg_schema.hpp"

namespace sgs::store::pg {

namespace {

std::string cast_of(collection c, std::string_view column) {
  const auto type = object_column_type(c, column);
  const std::string col(column);
  if (type == "bigint") return "sgs_bigint(" + col + ")";
  if (type == "jsonb") return "sgs_jsonb(" + col + ")";
  return col;
}

std::string column_list(collection c) {
  std::string out;
  for (auto col : columns(c)) {
    if (!out.empty()) out += ", ";
    out += col;
  }
  return out;
}

}  // namespace

pg_object_store::pg_object_store(const pg_object_store_options& options) : options_(options) {}

pg_object_store::~pg_object_store() = default;

std::unique_ptr<pg_object_store> pg_object_store::open(const pg_object_store_options& options) {
  std::unique_ptr<pg_object_store> store(new pg_object_store(options));
  rethrow_as<object_store_error>(
      [&] { store->conn_ = std::make_unique<connection>(options.conninfo, options.schema); });
  return store;
}

bool pg_object_store::try_lock_sync() {
  return rethrow_as<object_store_error>([&] {
    auto r = conn_->exec(
        "SELECT pg_try_advisory_lock(" + std::to_string(sync_lock_class) + ", hashtext($1))",
        {options_.schema}, "cannot take the sync lock");
    return r.text(0, 0) == "t";
  });
}

void pg_object_store::begin_collection(collection c) {
  if (current_) end_collection();
  rethrow_as<object_store_error>([&] {
    std::string cols = "seq bigint";
    for (auto col : columns(c)) cols += ", " + std::string(col) + " text";
    conn_->exec("DROP TABLE IF EXISTS pg_temp.sgs_stage", "cannot drop the stage");
    conn_->exec("CREATE TEMP TABLE sgs_stage (" + cols + ")",
                "cannot create the staging table for " + std::string(collection_name(c)));
  });
  current_ = c;
  staged_ = 0;
  buffer_.clear();
  buffered_ = 0;
}

void pg_object_store::stage(const object_row& row) {
  if (!current_ || row.kind() != *current_) {
    throw object_store_error("stage(): the row is not of the collection begun");
  }
  buffer_ += std::to_string(staged_);
  const int n = static_cast<int>(columns(*current_).size());
  for (int i = 0; i < n; ++i) {
    buffer_ += '\t';
    const auto& cell = row.at(i);
    switch (cell.t) {
      case object_row::cell::type::null:
        copy_null(buffer_);
        break;
      case object_row::cell::type::integer:
        buffer_ += std::to_string(cell.i);
        break;
      case object_row::cell::type::text:
      case object_row::cell::type::owned:
        copy_text(buffer_, row.text_at(i));
        break;
    }
  }
  buffer_ += '\n';
  ++staged_;
  if (++buffered_ >= options_.stage_batch_rows) flush_stage();
}

void pg_object_store::flush_stage() {
  if (buffered_ == 0) return;
  rethrow_as<object_store_error>([&] {
    conn_->copy_in("COPY pg_temp.sgs_stage FROM STDIN", buffer_,
                   "cannot stage rows of " + std::string(collection_name(*current_)));
  });
  buffer_.clear();
  buffered_ = 0;
}

std::int64_t pg_object_store::merge(std::string_view source_api, std::string_view synced_at,
                                    const std::function<bool()>& keep_going) {
  if (!current_) throw object_store_error("merge() without begin_collection()");
  const collection c = *current_;
  const std::string table(collection_name(c));
  flush_stage();
  return rethrow_as<object_store_error>([&] {
    conn_->exec("CREATE INDEX IF NOT EXISTS sgs_stage_id ON pg_temp.sgs_stage (id)",
                "cannot index the stage");
    conn_->exec("ANALYZE pg_temp.sgs_stage", "cannot analyze the stage");
    std::string casts;
    std::string set;
    for (auto col : columns(c)) {
      if (!casts.empty()) casts += ", ";
      casts += cast_of(c, col);
      if (col == "id") continue;
      set += std::string(col) + " = excluded." + std::string(col) + ", ";
    }
    set += "source_api = excluded.source_api, synced_at = excluded.synced_at, deleted_at = NULL";
    // DISTINCT ON: the last staged copy of an id wins, as a later upsert would.
    const std::string head = "INSERT INTO " + table + " (" + column_list(c) +
                             ", source_api, synced_at, deleted_at) SELECT DISTINCT ON (id) " +
                             casts +
                             ", $1, $2::timestamptz, NULL FROM pg_temp.sgs_stage WHERE "
                             "id > $3";
    const std::string tail = " ORDER BY id, seq DESC ON CONFLICT (id) DO UPDATE SET " + set +
                             " WHERE " + table + ".raw IS DISTINCT FROM excluded.raw OR " + table +
                             ".deleted_at IS NOT NULL OR " + table +
                             ".source_api IS DISTINCT FROM excluded.source_api";
    std::int64_t changed = 0;
    std::string lo;
    while (keep_going()) {
      auto bound = conn_->exec(
          "SELECT id FROM pg_temp.sgs_stage WHERE id > $1 ORDER BY id OFFSET $2 LIMIT 1",
          {lo, std::to_string(options_.merge_batch_rows - 1)}, "cannot read the staged " + table);
      transaction tx(*conn_);
      if (bound.rows() == 1) {
        const std::string hi(bound.text(0, 0));
        changed += conn_
                       ->exec(head + " AND id <= $4" + tail, {source_api, synced_at, lo, hi},
                              "cannot merge staged rows into " + table)
                       .affected();
        tx.commit();
        lo = hi;
      } else {
        changed += conn_
                       ->exec(head + tail, {source_api, synced_at, lo},
                              "cannot merge staged rows into " + table)
                       .affected();
        tx.commit();
        break;
      }
    }
    return changed;
  });
}

std::int64_t pg_object_store::tombstone(std::string_view deleted_at,
                                        const std::function<bool()>& keep_going) {
  if (!current_) throw object_store_error("tombstone() without begin_collection()");
  const std::string table(collection_name(*current_));
  flush_stage();
  if (!keep_going()) return 0;
  return rethrow_as<object_store_error>([&] {
    conn_->exec("CREATE INDEX IF NOT EXISTS sgs_stage_id ON pg_temp.sgs_stage (id)",
                "cannot index the stage");
    // One statement: under MVCC it blocks no receiver, however many rows it marks.
    return conn_
        ->exec("UPDATE " + table +
                   " SET deleted_at = $1::timestamptz WHERE deleted_at IS NULL "
                   "AND NOT EXISTS (SELECT 1 FROM pg_temp.sgs_stage s WHERE s.id "
                   "= " +
                   table + ".id)",
               {deleted_at}, "cannot tombstone rows of " + table)
        .affected();
  });
}

void pg_object_store::end_collection() {
  if (!current_) return;
  current_.reset();
  buffer_.clear();
  buffered_ = 0;
  rethrow_as<object_store_error>(
      [&] { conn_->exec("DROP TABLE IF EXISTS pg_temp.sgs_stage", "cannot drop the stage"); });
}

std::int64_t pg_object_store::begin_run(std::string_view run_id, std::string_view source,
                                        collection c, std::string_view started_at) {
  flush_stage();
  return rethrow_as<object_store_error>([&] {
    return conn_
        ->exec(
            "INSERT INTO sync_runs (run_id, source, collection, started_at, status) VALUES "
            "($1, $2, $3, $4::timestamptz, 'running') RETURNING id",
            {run_id, source, collection_name(c), started_at},
            "cannot record the start of a sync run")
        .int64(0, 0);
  });
}

void pg_object_store::finish_run(std::int64_t run_row, run_status status,
                                 std::string_view source_api, const run_counts& counts,
                                 std::string_view finished_at, std::string_view error) {
  flush_stage();
  rethrow_as<object_store_error>([&] {
    conn_->exec(
        "UPDATE sync_runs SET status = $2, source_api = $3, pages = $4, rows_seen = $5, "
        "rows_upserted = $6, rows_tombstoned = $7, http_retries = $8, rate_limit_waits = $9, "
        "finished_at = $10::timestamptz, error = $11 WHERE id = $1",
        {std::to_string(run_row), run_status_name(status),
         source_api.empty() ? param{} : param{source_api}, std::to_string(counts.pages),
         std::to_string(counts.rows_seen), std::to_string(counts.rows_upserted),
         std::to_string(counts.rows_tombstoned), std::to_string(counts.http_retries),
         std::to_string(counts.rate_limit_waits), finished_at,
         error.empty() ? param{} : param{error}},
        "cannot record the end of a sync run");
  });
}

std::vector<sync_run_record> pg_object_store::recent_runs(std::size_t limit) {
  return rethrow_as<object_store_error>([&] {
    auto r = conn_->exec(
        "SELECT run_id, collection, coalesce(source_api, ''), sgs_iso(started_at), "
        "coalesce(sgs_iso(finished_at), ''), status, pages, rows_seen, rows_upserted, "
        "rows_tombstoned, http_retries, rate_limit_waits, coalesce(error, '') FROM sync_runs "
        "ORDER BY id DESC LIMIT $1",
        {std::to_string(limit)}, "cannot read sync_runs");
    std::vector<sync_run_record> out;
    for (int i = 0; i < r.rows(); ++i) {
      sync_run_record s;
      s.run_id = r.text(i, 0);
      s.collection = r.text(i, 1);
      s.source_api = r.text(i, 2);
      s.started_at = r.text(i, 3);
      s.finished_at = r.text(i, 4);
      s.status = r.text(i, 5);
      s.counts.pages = r.int64(i, 6);
      s.counts.rows_seen = r.int64(i, 7);
      s.counts.rows_upserted = r.int64(i, 8);
      s.counts.rows_tombstoned = r.int64(i, 9);
      s.counts.http_retries = r.int64(i, 10);
      s.counts.rate_limit_waits = r.int64(i, 11);
      s.error = r.text(i, 12);
      out.push_back(std::move(s));
    }
    return out;
  });
}

std::string pg_object_store::last_success(collection c) {
  return rethrow_as<object_store_error>([&] {
    return std::string(
        conn_
            ->exec("SELECT coalesce(sgs_iso(max(finished_at)), '') FROM sync_runs WHERE "
                   "collection = $1 AND status = 'succeeded'",
                   {collection_name(c)}, "cannot read sync_runs")
            .text(0, 0));
  });
}

std::string pg_object_store::last_status(collection c) {
  return rethrow_as<object_store_error>([&] {
    auto r =
        conn_->exec("SELECT status FROM sync_runs WHERE collection = $1 ORDER BY id DESC LIMIT 1",
                    {collection_name(c)}, "cannot read sync_runs");
    return r.rows() ? std::string(r.text(0, 0)) : std::string();
  });
}

std::string pg_object_store::state(std::string_view key) {
  return rethrow_as<object_store_error>([&] {
    auto r =
        conn_->exec("SELECT value FROM sync_state WHERE key = $1", {key}, "cannot read sync_state");
    return r.rows() ? std::string(r.text(0, 0)) : std::string();
  });
}

void pg_object_store::set_state(std::string_view key, std::string_view value,
                                std::string_view updated_at) {
  flush_stage();
  rethrow_as<object_store_error>([&] {
    conn_->exec(
        "INSERT INTO sync_state (key, value, updated_at) VALUES ($1, $2, $3::timestamptz) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        {key, value, updated_at}, "cannot write sync_state");
  });
}

}  // namespace sgs::store::pg
