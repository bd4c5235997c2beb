// In-memory stores behind the store interfaces, for tests of the webhook and the sync that
// are about them, not about SQLite: they show that the seam is real.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/event_store.hpp"
#include "store/object_store.hpp"

namespace sgs::test {

// Commits at once, on the caller's thread; dedups by sg_event_id and content fingerprint (for
// ever: no window). Thread-safe. `fail_next` makes the next submits answer `failed` with
// that error, as a full disk would.
class memory_event_store final : public store::event_store {
 public:
  void submit(events::parsed_batch batch, std::chrono::system_clock::time_point received_at,
              store::write_callback done) override;
  void close() override;
  bool healthy() const override;
  std::string last_error() const override;
  const store::store_counters& counters() const override { return counters_; }
  std::string location() const override { return "memory"; }

  // Answers `failed` with `error` until cleared with nullopt.
  void fail_with(std::optional<std::string> error);
  // The sg_event_id (or "" when absent) of every stored event, in arrival order.
  std::vector<std::string> stored_ids() const;
  std::size_t rejected() const;

 private:
  mutable std::mutex mutex_;
  store::store_counters counters_;
  std::set<std::pair<std::uint64_t, std::uint64_t>> seen_;
  std::vector<std::string> stored_ids_;
  std::size_t rejected_ = 0;
  std::optional<std::string> failing_;
  std::string last_error_;
  bool closed_ = false;
};

// The object tables as maps: rows by collection and id (typed cells as text), tombstones,
// and the sync_runs records. Single-threaded, like the interface.
class memory_object_store final : public store::object_store {
 public:
  struct object {
    std::vector<std::string> cells;  // text of each typed column (integers in decimal)
    std::string source_api;
    std::string synced_at;
    std::string deleted_at;  // "" = live
  };

  void begin_collection(store::collection c) override;
  void stage(const store::object_row& row) override;
  std::int64_t staged_rows() const override { return static_cast<std::int64_t>(stage_.size()); }
  std::int64_t merge(std::string_view source_api, std::string_view synced_at,
                     const std::function<bool()>& keep_going) override;
  std::int64_t tombstone(std::string_view deleted_at,
                         const std::function<bool()>& keep_going) override;
  void end_collection() override;
  std::int64_t begin_run(std::string_view run_id, std::string_view source, store::collection c,
                         std::string_view started_at) override;
  void finish_run(std::int64_t run_row, store::run_status status, std::string_view source_api,
                  const store::run_counts& counts, std::string_view finished_at,
                  std::string_view error) override;
  std::vector<store::sync_run_record> recent_runs(std::size_t limit) override;
  std::string last_success(store::collection c) override;
  std::string last_status(store::collection c) override;
  std::string state(std::string_view key) override;
  void set_state(std::string_view key, std::string_view value,
                 std::string_view updated_at) override;

  const std::map<std::string, object>& table(store::collection c) { return tables_[c]; }
  // Throws object_store_error from every later call, as a database that went away would.
  void break_now(std::string error) { broken_ = std::move(error); }

 private:
  void check() const;
  std::map<store::collection, std::map<std::string, object>> tables_;
  std::optional<store::collection> current_;
  std::map<std::string, std::vector<std::string>> stage_;  // id -> cells
  std::vector<store::sync_run_record> runs_;
  std::map<std::string, std::string, std::less<>> state_;  // sync_state: key -> value
  std::optional<std::string> broken_;
};

}  // namespace sgs::test
