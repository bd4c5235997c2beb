// Recovery (at open, before any thread starts): rebuilds the dedup index and takes over what
// a crash or an older version left in the pending journal.
//
// Invariants:
//  1. The dedup index holds the keys of every event stored within the dedup window (read
//     back from the newest rows of event_rows, which arrive in rowid order) and of every
//     pending body, so a retry after a crash is still recognised.
//  2. Bodies at or below the last merged id are deleted, never merged twice; the pending
//     journal's id sequence is raised past that id, so a new or replaced journal never hands
//     out ids that count as merged.
//  3. Bodies a version before 0.2 kept in the tables' own file are merged in transactions that
//     delete them there, so each is in exactly one place.
// Threads: runs on the thread that calls open(); read_pending is also used by the merger.

#include <stdexcept>

#include "store/event_columns.hpp"
#include "store/sqlite_event_store_internal.hpp"

namespace sgs::store {

using events::event;
using events::event_type;
using text::iso8601_utc;
using namespace sqlite_detail;

void sqlite_event_store::rebuild_dedup_index() {
  // Rows arrive in rowid order (0010 copied older rows in arrival order too), so the dedup
  // window is the tail of event_rows: read it backwards and stop at the first row older than
  // the window. Each row's `raw` is parsed again, so its keys are the ones the parser gave it
  // when it arrived. A row the parser now refuses (an older version was more lenient) has no
  // keys: a retry of it is refused the same way, so it cannot be stored twice.
  const auto now = std::chrono::system_clock::now();
  const std::int64_t cutoff_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                     (now - options_.dedup_window).time_since_epoch())
                                     .count();
  sqlite3* h = db_->getHandle();
  stmt_ptr s = prepare(h,
                       "SELECT received_at_ms, body, email, email_at, sg_message_id, message_at "
                       "FROM event_rows ORDER BY rowid DESC");
  const auto add_keys_of = [&](const event& e, std::chrono::system_clock::time_point seen) {
    if (auto id = events::event_id_key(e)) dedup_->insert(*id, seen);
    dedup_->insert(events::fingerprint_key(e), seen);
  };
  // Parsed a few kilobytes at a time, as one array ("[raw,raw,...]"); one by one when that
  // array does not give one event per row. Small chunks: each parse allocates in proportion to
  // its text, and fresh memory costs page faults (10 M events: 82 s with 1000-row chunks, 20 s
  // with 4 KiB; docs/DESIGN.md).
  std::string chunk = "[";
  std::vector<std::size_t> starts;  // of each row's raw in `chunk`
  std::vector<std::chrono::system_clock::time_point> seen;
  const auto add_keys = [&] {
    if (seen.empty()) return;
    chunk += ']';
    auto parsed = events::parse_batch(chunk);
    auto* batch = std::get_if<events::parsed_batch>(&parsed);
    if (batch && batch->events.size() == seen.size() && batch->rejected.empty()) {
      for (std::size_t i = 0; i < seen.size(); ++i) add_keys_of(batch->events[i], seen[i]);
    } else {
      for (std::size_t i = 0; i < seen.size(); ++i) {
        const std::size_t end = i + 1 < seen.size() ? starts[i + 1] - 1 : chunk.size() - 1;
        auto one = events::parse_batch("[" + chunk.substr(starts[i], end - starts[i]) + "]");
        auto* b = std::get_if<events::parsed_batch>(&one);
        if (b && b->events.size() == 1) add_keys_of(b->events.front(), seen[i]);
      }
    }
    chunk.assign(1, '[');
    starts.clear();
    seen.clear();
  };
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    const std::int64_t received_ms = sqlite3_column_int64(s.get(), 0);
    if (received_ms < cutoff_ms) {
      rc = SQLITE_DONE;  // the rest of the table is older than the window
      break;
    }
    if (!seen.empty()) chunk += ',';
    starts.push_back(chunk.size());
    try {
      append_raw(chunk, column_text(s.get(), 1).value_or(""), column_text(s.get(), 2),
                 column_int(s.get(), 3), column_text(s.get(), 4), column_int(s.get(), 5));
    } catch (const std::invalid_argument& e) {
      throw store_error(std::string("cannot read event_rows to rebuild the dedup index: ") +
                        e.what());
    }
    // The row's own arrival time decides its generation, so it expires on time.
    seen.push_back(std::chrono::system_clock::time_point{std::chrono::milliseconds(received_ms)});
    if (chunk.size() >= 4096) add_keys();
  }
  if (rc != SQLITE_DONE) {
    throw store_error(std::string("cannot read event_rows to rebuild the dedup index: ") +
                      sqlite3_errmsg(h));
  }
  add_keys();
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
      insert_bodies(rows, false);
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

}  // namespace sgs::store
