// The daily_counts view kept by the merger (see daily_counts.hpp).
#include "store/daily_counts.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include "store/event_columns.hpp"
#include "store/sqlite_event_store_internal.hpp"
#include "text/json.hpp"

namespace sgs::store {

namespace {

using events::event_type;
using sqlite_detail::column_text;
using sqlite_detail::prepare;

// SQLite's date() covers Julian day 0 (-4713-11-24 12:00:00, proleptic Gregorian) to
// 9999-12-31 23:59:59.
constexpr std::int64_t first_second = -210866760000;
constexpr std::int64_t last_second = 253402300799;

[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  throw std::runtime_error(what + ": " + sqlite3_errmsg(db));
}

void exec(sqlite3* db, const std::string& sql) {
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    fail(db, "daily_counts: " + sql.substr(0, 40));
  }
}

// NULL reads as "" (a day SQLite's date() has no answer for).
std::string_view text_at(sqlite3_stmt* s, int i) { return column_text(s, i).value_or(""); }

// "2026-12-07" (or "-0724-08-31") -> day number; nullopt for NULL or anything else.
std::optional<std::int64_t> day_of_text(std::string_view t) {
  int y = 0, m = 0, d = 0;
  const bool negative = !t.empty() && t[0] == '-';
  if (negative) t.remove_prefix(1);
  if (t.size() != 10 || std::sscanf(std::string(t).c_str(), "%4d-%2d-%2d", &y, &m, &d) != 3) {
    return std::nullopt;
  }
  if (negative) y = -y;
  const std::chrono::year_month_day ymd{std::chrono::year{y},
                                        std::chrono::month{static_cast<unsigned>(m)},
                                        std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd).time_since_epoch().count();
}

std::string event_of(event_type t) { return std::string(events::wire_name(t)); }

// A SQL string literal of `s`.
std::string sql_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

void add(day_event_counts& into, const day_event_counts& from) {
  for (const auto& [k, n] : from) into[k] += n;
}

}  // namespace

std::optional<std::int64_t> utc_day_of(std::int64_t s) {
  if (s < first_second || s > last_second) return std::nullopt;
  return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

std::string day_text(std::int64_t day) {
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{day}}};
  const int y = static_cast<int>(ymd.year());
  char buf[24];
  std::snprintf(buf, sizeof buf, "%s%04d-%02u-%02u", y < 0 ? "-" : "", y < 0 ? -y : y,
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::string render_daily_counts_view(const frozen_counts& frozen) {
  std::string json = "{\"through\":" + std::to_string(frozen.through) + ",\"counts\":[";
  bool first = true;
  for (const auto& [key, n] : frozen.counts) {
    if (n == 0) continue;
    json += first ? "[" : ",[";
    first = false;
    json += key.first ? "\"" + day_text(*key.first) + "\"" : "null";
    json += ',';
    text::append_json_string(json, key.second);
    json += ',' + std::to_string(n) + ']';
  }
  json += "]}";

  std::string event_name = "CASE kind";
  for (event_type t : events::all_event_types) {
    if (t == event_type::other) continue;
    event_name += " WHEN " + std::to_string(event_rows_kind(t)) + " THEN " + sql_quote(event_of(t));
  }
  event_name += " ELSE event END";
  return "CREATE VIEW daily_counts AS\n"
         "SELECT day, event, sum(events) AS events FROM (\n"
         "  SELECT json_extract(value, '$[0]') AS day, json_extract(value, '$[1]') AS event,\n"
         "         json_extract(value, '$[2]') AS events\n"
         "  FROM json_each(" +
         sql_quote(json) +
         ", '$.counts')\n"
         "  UNION ALL SELECT date(timestamp, 'unixepoch'), " +
         event_name +
         ", count(*) FROM event_rows\n"
         "    WHERE rowid > " +
         std::to_string(frozen.through) +
         " AND timestamp IS NOT NULL GROUP BY 1, 2\n"
         ") GROUP BY day, event";
}

frozen_counts parse_daily_counts_view(sqlite3* db, std::string_view sql) {
  constexpr std::string_view marker = "json_each('";
  const auto start = sql.find(marker);
  if (start == std::string_view::npos) {
    throw std::runtime_error("daily_counts is not a view this sendgrid-source keeps");
  }
  std::string json;
  std::size_t i = start + marker.size();
  for (;; ++i) {
    if (i >= sql.size()) throw std::runtime_error("daily_counts: unterminated counts");
    if (sql[i] == '\'') {
      if (i + 1 < sql.size() && sql[i + 1] == '\'') {
        json += '\'';
        ++i;
        continue;
      }
      break;
    }
    json += sql[i];
  }
  frozen_counts out;
  auto through = prepare(db, "SELECT json_extract(?1, '$.through')");
  sqlite3_bind_text(through.get(), 1, json.data(), static_cast<int>(json.size()), SQLITE_STATIC);
  if (sqlite3_step(through.get()) != SQLITE_ROW ||
      sqlite3_column_type(through.get(), 0) != SQLITE_INTEGER) {
    throw std::runtime_error("daily_counts: the view names no rowid it counted through");
  }
  out.through = sqlite3_column_int64(through.get(), 0);
  auto counts = prepare(db,
                        "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
                        "json_extract(value, '$[2]') FROM json_each(?1, '$.counts')");
  sqlite3_bind_text(counts.get(), 1, json.data(), static_cast<int>(json.size()), SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(counts.get())) == SQLITE_ROW) {
    day_event key{day_of_text(text_at(counts.get(), 0)), std::string(text_at(counts.get(), 1))};
    out.counts[key] += static_cast<std::uint64_t>(sqlite3_column_int64(counts.get(), 2));
  }
  if (rc != SQLITE_DONE) fail(db, "daily_counts: reading the counts of the view");
  return out;
}

daily_counts_keeper::daily_counts_keeper(sqlite3* db) {
  auto q =
      prepare(db, "SELECT sql FROM sqlite_schema WHERE type = 'view' AND name = 'daily_counts'");
  if (sqlite3_step(q.get()) != SQLITE_ROW) {
    throw std::runtime_error("the database has no daily_counts view");
  }
  frozen_ = parse_daily_counts_view(db, text_at(q.get(), 0));
}

void daily_counts_keeper::count(const events::event& e) {
  if (!e.timestamp) return;
  const auto day = utc_day_of(*e.timestamp);
  if (e.kind == event_type::other) {
    ++merging_other_[{day, std::string(e.event_name)}];
  } else {
    ++merging_[static_cast<std::size_t>(e.kind)][day];
  }
  ++merging_events_;
}

void daily_counts_keeper::committed() {
  for (event_type t : events::all_event_types) {
    for (const auto& [day, n] : merging_[static_cast<std::size_t>(t)]) {
      committed_[{day, event_of(t)}] += n;
    }
  }
  add(committed_, merging_other_);
  unfolded_events_ += merging_events_;
  rolled_back();
}

void daily_counts_keeper::rolled_back() {
  for (auto& m : merging_) m.clear();
  merging_other_.clear();
  merging_events_ = 0;
}

void daily_counts_keeper::recount(sqlite3* db) {
  day_event_counts counted;
  std::uint64_t events = 0;
  // With nothing frozen yet, no rowid bound: the count then reads the timestamp index, a
  // fraction of the table's bytes.
  auto q = prepare(db,
                   "SELECT date(timestamp, 'unixepoch'), kind, event, count(*) FROM event_rows "
                   "WHERE timestamp IS NOT NULL" +
                       (frozen_.through > 0 ? " AND rowid > " + std::to_string(frozen_.through)
                                            : std::string()) +
                       " GROUP BY 1, 2, 3");
  int rc;
  while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
    const auto n = static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 3));
    const auto type = event_type_of_kind(sqlite3_column_int64(q.get(), 1));
    if (!type) throw std::runtime_error("daily_counts: event_rows holds an unknown kind");
    day_event key{day_of_text(text_at(q.get(), 0)),
                  *type == event_type::other ? std::string(text_at(q.get(), 2)) : event_of(*type)};
    counted[std::move(key)] += n;
    events += n;
  }
  if (rc != SQLITE_DONE) fail(db, "daily_counts: counting event_rows");
  committed_ = std::move(counted);
  unfolded_events_ = events;
  rolled_back();
}

void daily_counts_keeper::fold(sqlite3* db) {
  frozen_counts next = frozen_;
  add(next.counts, committed_);
  exec(db, "BEGIN IMMEDIATE");
  try {
    auto q = prepare(db, "SELECT coalesce(max(rowid), 0) FROM event_rows");
    if (sqlite3_step(q.get()) != SQLITE_ROW) fail(db, "daily_counts: max(rowid)");
    next.through = sqlite3_column_int64(q.get(), 0);
    exec(db, "DROP VIEW IF EXISTS daily_counts");
    exec(db, render_daily_counts_view(next));
    exec(db, "COMMIT");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  frozen_ = std::move(next);
  committed_.clear();
  unfolded_events_ = 0;
}

}  // namespace sgs::store
