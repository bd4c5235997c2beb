// In-memory event and object stores for tests (see memory_store.hpp).
#include "memory_store.hpp"

#include <algorithm>

#include "events/event.hpp"

namespace sgs::test {

void memory_event_store::submit(events::parsed_batch batch,
                                std::chrono::system_clock::time_point received_at,
                                store::write_callback done) {
  store::write_result r;
  {
    std::lock_guard lock(mutex_);
    if (closed_) {
      r = {store::write_result::outcome::closed, 0, 0, 0, "the store is shutting down"};
    } else if (failing_) {
      r = {store::write_result::outcome::failed, 0, 0, 0, *failing_};
      last_error_ = *failing_;
      counters_.failed_commits.fetch_add(1);
      counters_.last_commit_failed = true;
    } else {
      r.status = store::write_result::outcome::committed;
      for (const auto& e : batch.events) {
        const auto type = static_cast<std::size_t>(e.kind);
        const auto id = events::event_id_key(e);
        const auto fp = events::fingerprint_key(e);
        const bool duplicate =
            (id && seen_.contains({id->low, id->high})) || seen_.contains({fp.low, fp.high});
        if (duplicate) {
          ++r.duplicates;
          counters_.duplicates[type].fetch_add(1);
          continue;
        }
        if (id) seen_.insert({id->low, id->high});
        seen_.insert({fp.low, fp.high});
        ++r.stored;
        counters_.stored[type].fetch_add(1);
        stored_ids_.emplace_back(e.sg_event_id.value_or(""));
      }
      r.rejected = batch.rejected.size();
      rejected_ += r.rejected;
      counters_.rejected.fetch_add(r.rejected);
      counters_.commits.fetch_add(1);
      counters_.last_commit_failed = false;
      if (r.stored) {
        counters_.last_event_unix_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(received_at.time_since_epoch())
                .count();
      }
    }
  }
  done(r);
}

void memory_event_store::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
}

bool memory_event_store::healthy() const { return !counters_.last_commit_failed.load(); }

std::string memory_event_store::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

void memory_event_store::fail_with(std::optional<std::string> error) {
  std::lock_guard lock(mutex_);
  failing_ = std::move(error);
}

std::vector<std::string> memory_event_store::stored_ids() const {
  std::lock_guard lock(mutex_);
  return stored_ids_;
}

std::size_t memory_event_store::rejected() const {
  std::lock_guard lock(mutex_);
  return rejected_;
}

void memory_object_store::check() const {
  if (broken_) throw store::object_store_error(*broken_);
}

void memory_object_store::begin_collection(store::collection c) {
  check();
  current_ = c;
  stage_.clear();
}

void memory_object_store::stage(const store::object_row& row) {
  check();
  if (!current_ || row.kind() != *current_) {
    throw store::object_store_error("stage: the row is not of the collection begun");
  }
  const auto n = store::columns(row.kind()).size();
  std::vector<std::string> cells(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& cell = row.at(static_cast<int>(i));
    cells[i] = cell.t == store::object_row::cell::type::integer ? std::to_string(cell.i)
                                                                : std::string(cell.s);
  }
  if (cells.at(0).empty()) throw store::object_store_error("stage: a row without an id");
  stage_[cells[0]] = std::move(cells);  // the last copy of an id wins, as in the SQLite store
}

std::int64_t memory_object_store::merge(std::string_view source_api, std::string_view synced_at,
                                        const std::function<bool()>& keep_going) {
  check();
  if (!current_) throw store::object_store_error("merge: no collection begun");
  if (keep_going && !keep_going()) return 0;
  std::int64_t changed = 0;
  auto& table = tables_[*current_];
  for (const auto& [id, cells] : stage_) {
    auto it = table.find(id);
    if (it != table.end() && it->second.cells == cells && it->second.deleted_at.empty()) continue;
    table[id] = object{cells, std::string(source_api), std::string(synced_at), ""};
    ++changed;
  }
  return changed;
}

std::int64_t memory_object_store::tombstone(std::string_view deleted_at,
                                            const std::function<bool()>& keep_going) {
  check();
  if (!current_) throw store::object_store_error("tombstone: no collection begun");
  if (keep_going && !keep_going()) return 0;
  std::int64_t n = 0;
  for (auto& [id, o] : tables_[*current_]) {
    if (o.deleted_at.empty() && !stage_.contains(id)) {
      o.deleted_at = std::string(deleted_at);
      ++n;
    }
  }
  return n;
}

void memory_object_store::end_collection() {
  check();
  current_.reset();
  stage_.clear();
}

std::int64_t memory_object_store::begin_run(std::string_view run_id, std::string_view,
                                            store::collection c, std::string_view started_at) {
  check();
  store::sync_run_record r;
  r.run_id = std::string(run_id);
  r.collection = std::string(store::collection_name(c));
  r.started_at = std::string(started_at);
  r.status = std::string(store::run_status_name(store::run_status::running));
  runs_.push_back(std::move(r));
  return static_cast<std::int64_t>(runs_.size());  // 1-based, like a rowid
}

void memory_object_store::finish_run(std::int64_t run_row, store::run_status status,
                                     std::string_view source_api, const store::run_counts& counts,
                                     std::string_view finished_at, std::string_view error) {
  check();
  auto& r = runs_.at(static_cast<std::size_t>(run_row - 1));
  r.status = std::string(store::run_status_name(status));
  r.source_api = std::string(source_api);
  r.counts = counts;
  r.finished_at = std::string(finished_at);
  r.error = std::string(error);
}

std::vector<store::sync_run_record> memory_object_store::recent_runs(std::size_t limit) {
  check();
  std::vector<store::sync_run_record> out(runs_.rbegin(), runs_.rend());
  if (out.size() > limit) out.resize(limit);
  return out;
}

std::string memory_object_store::last_success(store::collection c) {
  check();
  const std::string name(store::collection_name(c));
  const std::string succeeded(store::run_status_name(store::run_status::succeeded));
  for (auto it = runs_.rbegin(); it != runs_.rend(); ++it) {
    if (it->collection == name && it->status == succeeded) return it->finished_at;
  }
  return "";
}

std::string memory_object_store::last_status(store::collection c) {
  check();
  const std::string name(store::collection_name(c));
  for (auto it = runs_.rbegin(); it != runs_.rend(); ++it) {
    if (it->collection == name) return it->status;
  }
  return "";
}

std::string memory_object_store::state(std::string_view key) {
  check();
  auto it = state_.find(key);
  return it == state_.end() ? std::string() : it->second;
}

void memory_object_store::set_state(std::string_view key, std::string_view value,
                                    std::string_view /*updated_at*/) {
  check();
  state_.insert_or_assign(std::string(key), std::string(value));
}

}  // namespace sgs::test
