// The daily_counts view (events per UTC day of the event's timestamp, and type) answered from
// counts the merger keeps, not by counting rows when someone asks.
//
// Why a view that the merger rewrites rather than a table: the README promises that the daemon
// writes no rows besides events and rejected elements (count(*) over the tables is the number
// of events stored, and operators check it so), and a view needs no function of ours, so
// sqlite3, Python and Datasette read it as they are. The view holds the counts of every row of
// event_rows (schema/0010) up to a rowid as a JSON constant (its "frozen" part), and counts the
// few rows after that rowid on demand (its "live" part, a rowid range):
//
//   SELECT day, event, sum(events) AS events FROM (
//     SELECT ... FROM json_each('{"through":1200345,"counts":[[day,event,n],...]}', '$.counts')
//     UNION ALL SELECT date(timestamp, 'unixepoch'), CASE kind WHEN 1 THEN 'processed' ...
//               ELSE event END, count(*) FROM event_rows
//               WHERE rowid > 1200345 AND timestamp IS NOT NULL GROUP BY 1, 2
//   ) GROUP BY day, event
//
// So the view is exact at every instant whatever the keeper did last: a row is in the frozen
// part or in the live part, never both (rowids are arrival order; the daemon never deletes).
// The merger counts the events of each merge in memory and, every refresh_events events,
// folds them into the frozen part (one small schema change); at open it counts the rows a
// crash left after the last fold from the tables themselves.
// Threads: one keeper per store, used by the thread that owns the connection (the merger).
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "events/event.hpp"

namespace sgs::store {

// (day as days since 1970-01-01, nullopt when SQLite's date() has no answer for it; event).
using day_event = std::pair<std::optional<std::int64_t>, std::string>;
using day_event_counts = std::map<day_event, std::uint64_t>;

// The day SQLite's date(ts, 'unixepoch') names, as days since 1970-01-01; nullopt outside
// the range date() answers for (Julian day 0, in 4714 BC, to the end of 9999).
std::optional<std::int64_t> utc_day_of(std::int64_t unix_seconds);
// "2026-12-07" (as SQLite writes it: "-0724-08-31" before year 0) for a day number.
std::string day_text(std::int64_t day);

// What the view holds, parsed from or rendered into its definition.
struct frozen_counts {
  std::int64_t through = 0;  // event_rows rowid
  day_event_counts counts;
};

// The CREATE VIEW statement for these counts.
std::string render_daily_counts_view(const frozen_counts& frozen);
// The counts in a definition written by render_daily_counts_view (or schema/0010); throws
// std::runtime_error when the definition is not one.
frozen_counts parse_daily_counts_view(sqlite3* db, std::string_view create_view_sql);

class daily_counts_keeper {
 public:
  // Reads the frozen part from the view. Throws std::runtime_error (SQLite's message).
  explicit daily_counts_keeper(sqlite3* db);

  // An event inserted by the merge transaction in progress.
  void count(const events::event& e);
  // The merge transaction committed / rolled back.
  void committed();
  void rolled_back();
  // Events committed since the last fold.
  std::uint64_t unfolded() const { return unfolded_events_; }

  // Replaces what was counted in memory with a count of the rows after the frozen rowids,
  // read from the tables (at open: a crash loses the in-memory counts of the last merges).
  void recount(sqlite3* db);
  // Folds the committed counts into the view, in a transaction of its own. Throws
  // std::runtime_error; the counts stay in memory for the next try.
  void fold(sqlite3* db);

 private:
  frozen_counts frozen_;
  day_event_counts committed_;  // committed since the last fold
  // In the merge transaction in progress. Keyed by type, not name, so that counting an event
  // (the merger's hot path) allocates nothing; events of unknown types by name.
  std::array<std::map<std::optional<std::int64_t>, std::uint64_t>, events::event_type_count>
      merging_;
  day_event_counts merging_other_;
  std::uint64_t unfolded_events_ = 0;
  std::uint64_t merging_events_ = 0;
};

}  // namespace sgs::store
