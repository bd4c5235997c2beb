// The pending journal (writer thread): group commit of acknowledged bodies into
// <name>.pending.db, the acknowledgement of each request, admission and pacing.
//
// Invariants:
//  1. A batch's callback runs once, after the COMMIT that holds its body (committed) or after
//     its failure (failed); never before. Nothing of a failed group is marked seen.
//  2. An event is a duplicate when its sg_event_id key or fingerprint key is in the dedup
//     index or earlier in the same group; the group's keys enter the index only after COMMIT.
//  3. pending_events counts every journaled event not yet merged; it is raised before the
//     COMMIT becomes visible to the merger, so the merger never subtracts more than was added.
//  4. Bodies at or below merged_through_ (merged by the merger) are deleted in the writer's
//     next transaction; deleted_through_ says how far that has happened.
//  5. Admission: above a quarter of pending_high_water, requests are admitted at about the
//     merger's pace; above the mark, not at all; while merges fail, unpaced up to the mark,
//     then refused (503) so SendGrid retries.
// Threads: submit() runs on any thread and only touches queue_ under mutex_. Everything else
// here runs on the writer thread, which alone uses pending_db_ and its statements.
#include <unordered_set>

#include "store/sqlite_event_store_internal.hpp"

namespace sgs::store {

using events::event;
using events::event_type;
using text::iso8601_utc;
using namespace sqlite_detail;

namespace {

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

}  // namespace

void sqlite_event_store::submit(events::parsed_batch batch,
                                std::chrono::system_clock::time_point received_at,
                                write_callback done) {
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

void sqlite_event_store::hand_to_merger(const std::vector<pending*>& batch) {
  // Parse once: the merger takes these instead of parsing the bodies again (merger.cpp). What
  // does not fit under max_parsed_events is re-parsed from the journal by the merger.
  std::lock_guard lock(mutex_);
  for (pending* p : batch) {
    if (p->journal_id == 0) continue;
    const std::uint64_t n = p->result.stored + p->result.rejected;
    if (parsed_events_ + n > options_.max_parsed_events) continue;
    parsed_.push_back(parsed_body{p->journal_id, n, std::move(p->batch)});
    parsed_events_ += n;
  }
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
      p->journal_id = 0;
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
      p->journal_id = sqlite3_last_insert_rowid(h);
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
  hand_to_merger(batch);
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

}  // namespace sgs::store
