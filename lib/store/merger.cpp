// The merger (merger thread): moves acknowledged bodies from the pending journal into the
// event tables, in large transactions that never delay an acknowledgement.
//
// Invariants:
//  1. Every acknowledged event is, at every instant, in its event table or in a pending body
//     above merged_through_ (the last body id recorded in merged_bodies), never in both: the
//     rows of a merge and the new merged_bodies id commit in one transaction.
//  2. A merge inserts the non-duplicate events of each body (the duplicate indexes were fixed
//     by the writer) and its rejected elements, with the body's own received_at.
//  3. A failed merge rolls back whole; the bodies stay pending and are retried after a second;
//     at shutdown they stay for the next start.
// Threads: db_, pending_reader_ and their statements are the merger's while it runs.
#include <variant>

#include "store/daily_counts.hpp"
#include "store/event_columns.hpp"
#include "store/sqlite_event_store_internal.hpp"

namespace sgs::store {

using events::event;
using events::event_type;
using text::iso8601_utc;
using namespace sqlite_detail;

namespace {

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

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
// Clang before 17 does not deduce an aggregate's template arguments (P1816).
template <class... F>
overloaded(F...) -> overloaded<F...>;

// "2026-12-07T16:44:01.123Z" (text::iso8601_utc) as unix milliseconds; 0 if it is not that.
std::int64_t unix_ms_of(std::string_view iso) {
  const auto t = text::parse_iso8601_utc(iso);
  return t ? std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count()
           : 0;
}

// Binds an event_rows row (schema/0010): kind, event (other_events only), the stored columns in
// the order of event_columns (store/event_columns.hpp), then body, email_at, message_at,
// received_at_ms and `normalized` (NULL: the views read `body`).
void bind_event(sqlite3_stmt* s, const event& e, const stored_body& body,
                std::int64_t received_at_ms, std::int64_t segment) {
  binder b(s, 1);
  b.integer(event_rows_kind(e.kind));
  b.text(e.kind == event_type::other ? std::optional<std::string_view>(e.event_name)
                                     : std::nullopt);
  for (const event_column& c : event_columns) {
    if (c.sqlite_view) continue;
    std::visit(overloaded{[&](std::optional<std::string_view> event::*f) { b.text(e.*f); },
                          [&](std::optional<std::int64_t> event::*f) { b.integer(e.*f); },
                          [&](std::string event::*f) { b.text(std::string_view(e.*f)); },
                          [&](std::optional<std::string> event::*f) { b.text(e.*f); },
                          [&](std::string_view event::*f) { b.text(e.*f); },
                          [&](received_at_column) {},  // computed: received_at_ms
                          [&](segment_column) { b.integer(segment); }},
               c.field);
  }
  b.text(body.body);
  b.integer(body.email_at);
  b.integer(body.message_at);
  b.integer(received_at_ms);
  b.text(std::optional<std::string_view>());
}

}  // namespace

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
    insert_bodies(rows, true);
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
    sqlite3_reset(st.insert_event.get());
    daily_counts_->rolled_back();
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
  daily_counts_->committed();
  after_merge(moved_events);
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

// Between merges: a new index segment when this one is full; the day counts into the
// daily_counts view when enough were counted. A failed fold leaves the view exact (its live
// part counts what was not folded) and is tried again after the next merge.
void sqlite_event_store::after_merge(std::uint64_t moved_events) {
  segment_events_ += moved_events;
  if (segment_events_ >= options_.segment_events) {
    ++segment_;
    segment_events_ = 0;
  }
  if (daily_counts_->unfolded() >= options_.daily_counts_fold_events) {
    try {
      daily_counts_->fold(db_->getHandle());
    } catch (const std::runtime_error& e) {
      std::lock_guard lock(mutex_);
      last_error_ = std::string("folding counts into daily_counts failed (retried): ") + e.what();
    }
  }
}

std::optional<events::parsed_batch> sqlite_event_store::take_parsed(std::int64_t id) {
  std::lock_guard lock(mutex_);
  // Older entries were merged from the journal already (re-parsed: the merger read the body
  // before the writer handed it over, or a failed merge dropped what it had taken).
  while (!parsed_.empty() && parsed_.front().id < id) {
    parsed_events_ -= parsed_.front().events;
    parsed_.pop_front();
  }
  if (parsed_.empty() || parsed_.front().id != id) return std::nullopt;
  std::optional<events::parsed_batch> out(std::move(parsed_.front().batch));
  parsed_events_ -= parsed_.front().events;
  parsed_.pop_front();
  return out;
}

void sqlite_event_store::insert_bodies(const std::vector<body_row>& rows, bool from_journal) {
  sqlite3* h = db_->getHandle();
  statements& st = *statements_;
  for (const auto& row : rows) {
    // The writer's parsed batch when it still holds it; else (after a crash, or past
    // max_parsed_events) the body is parsed again.
    std::optional<events::parsed_batch> kept;
    if (from_journal) kept = take_parsed(row.id);
    if (kept) {
      insert_events(*kept, row.duplicates, row.received_at);
      merging_events_.fetch_add(row.events);
      wake_.notify_one();  // a writer held back by the high-water mark may go on
      continue;
    }
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
  const std::int64_t received_at_ms = unix_ms_of(received_at);
  for (std::size_t i = 0; i < batch.events.size(); ++i) {
    if (next_duplicate < duplicates.size() && duplicates[next_duplicate] == i) {
      ++next_duplicate;
      continue;
    }
    const event& e = batch.events[i];
    sqlite3_stmt* s = st.insert_event.get();
    const stored_body body = body_of(e, body_scratch_);
    bind_event(s, e, body, received_at_ms, segment_);
    if (!body.from_raw) {
      write_normalized_values(normalized_, e);
      sqlite3_bind_text(s, sqlite3_bind_parameter_count(s), normalized_.data(),
                        static_cast<int>(normalized_.size()), SQLITE_STATIC);
    }
    const int rc = sqlite3_step(s);
    check(h, rc, "INSERT event");
    sqlite3_reset(s);
    daily_counts_->count(e);
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

}  // namespace sgs::store
