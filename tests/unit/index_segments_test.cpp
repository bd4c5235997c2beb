// The layout of schema/0006 on real SQLite files: index segments, skip-scan lookups, the
// daily_counts view the merger keeps, and the migration of a store written before it.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <random>
#include <variant>

#include "events/parse.hpp"
#include "store/daily_counts.hpp"
#include "store/migrations.hpp"
#include "store/sqlite_event_store.hpp"
#include "temp_dir.hpp"

namespace {

using sgs::store::write_result;

using sgs::test::temp_dir;

write_result write(sgs::store::event_store& store, const std::string& body) {
  auto parsed = sgs::events::parse_batch(body);
  if (auto* e = std::get_if<sgs::events::batch_error>(&parsed))
    throw std::runtime_error(e->message);
  std::promise<write_result> done;
  auto f = done.get_future();
  store.submit(std::get<sgs::events::parsed_batch>(std::move(parsed)),
               std::chrono::system_clock::now(), [&](const write_result& r) { done.set_value(r); });
  return f.get();
}

// A body of n events of varied types, days and recipients, numbered from `first`; every
// seventh is of a type SendGrid may add later (other_events), one in 50 has no timestamp.
std::string body_of(int first, int n) {
  static const char* types[] = {"processed", "delivered", "open",   "click",
                                "bounce",    "deferred",  "dropped"};
  std::string body = "[";
  for (int i = first; i < first + n; ++i) {
    if (i > first) body += ',';
    const std::string type = i % 7 == 6 ? (i % 2 ? "it's new" : "brand_new") : types[i % 7];
    body += R"({"event":")" + type + R"(","email":"r)" + std::to_string(i % 37) +
            R"(@example.com","sg_event_id":"e)" + std::to_string(i) + R"(","sg_message_id":"m)" +
            std::to_string(i % 101) + '"';
    if (i % 50 != 0) body += R"(,"timestamp":)" + std::to_string(1700000000 + i * 7919);
    body += '}';
  }
  return body + "]";
}

// daily_counts as rows "day|event|n", and the same counted from the rows themselves.
std::vector<std::string> rows_of(SQLite::Database& db, const std::string& sql) {
  std::vector<std::string> out;
  SQLite::Statement q(db, sql);
  while (q.executeStep()) {
    out.push_back(q.getColumn(0).getString() + "|" + q.getColumn(1).getString() + "|" +
                  q.getColumn(2).getString());
  }
  return out;
}
const char* daily_counts_rows = "SELECT day, event, events FROM daily_counts ORDER BY 1, 2";
const char* counted_rows =
    "SELECT date(timestamp, 'unixepoch'), event, count(*) FROM activity "
    "WHERE timestamp IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2";

sgs::store::frozen_counts frozen_of(SQLite::Database& db) {
  return sgs::store::parse_daily_counts_view(
      db.getHandle(),
      db.execAndGet("SELECT sql FROM sqlite_schema WHERE name = 'daily_counts'").getString());
}

TEST(DailyCounts, DaysAreTheDaysSqliteNames) {
  using sgs::store::day_text;
  using sgs::store::utc_day_of;
  EXPECT_EQ(day_text(*utc_day_of(0)), "1970-01-01");
  EXPECT_EQ(day_text(*utc_day_of(-1)), "1969-12-31");
  EXPECT_EQ(day_text(*utc_day_of(1513299569)), "2017-12-15");
  EXPECT_EQ(day_text(*utc_day_of(253402300799)), "9999-12-31");
  EXPECT_FALSE(utc_day_of(253402300800));
  EXPECT_EQ(day_text(*utc_day_of(-62167219200)), "0000-01-01");
  EXPECT_EQ(day_text(*utc_day_of(-210866760000)), "-4713-11-24");
  EXPECT_FALSE(utc_day_of(-210866760001));
  SQLite::Database db(":memory:", SQLite::OPEN_READWRITE);
  std::mt19937_64 rng(6);
  for (int i = 0; i < 2000; ++i) {
    const auto s = static_cast<std::int64_t>(rng() % 600000000000ull) - 300000000000;
    SQLite::Statement q(db, "SELECT date(?, 'unixepoch')");
    q.bind(1, s);
    ASSERT_TRUE(q.executeStep());
    const auto day = utc_day_of(s);
    ASSERT_EQ(q.getColumn(0).isNull(), !day) << s << " " << q.getColumn(0).getString();
    if (day) {
      ASSERT_EQ(q.getColumn(0).getString(), day_text(*day)) << s;
    }
  }
}

TEST(DailyCounts, TheViewReadsBackTheCountsItWasWrittenWith) {
  sgs::store::frozen_counts f;
  f.through = 1234;
  f.counts[{sgs::store::utc_day_of(1513299569), "delivered"}] = 5;
  f.counts[{std::nullopt, "it's \"new\" \xc3\xa9"}] = 2;
  SQLite::Database db(":memory:", SQLite::OPEN_READWRITE);
  const auto back =
      sgs::store::parse_daily_counts_view(db.getHandle(), sgs::store::render_daily_counts_view(f));
  EXPECT_EQ(back.through, f.through);
  EXPECT_EQ(back.counts, f.counts);
}

TEST(IndexSegments, LookupsFindEveryEventAcrossSegmentsAndDailyCountsStayExact) {
  temp_dir t;
  {
    auto store = sgs::store::sqlite_event_store::open({.file = t.file(),
                                                       .merge_after_events = 1,
                                                       .merge_max_events = 100,
                                                       .segment_events = 300,
                                                       .daily_counts_fold_events = 250});
    for (int i = 0; i < 20; ++i) ASSERT_EQ(write(*store, body_of(i * 100, 100)).stored, 100u);
    // Merged while it runs: segments rolled, and counts were folded into the view.
    store->close();
  }
  SQLite::Database db(t.file().string(), SQLite::OPEN_READONLY);
  EXPECT_GE(db.execAndGet("SELECT max(ingest_segment) FROM delivered").getInt(), 4);
  EXPECT_GT(frozen_of(db).through, 0);  // processed: folded at least once
  EXPECT_EQ(rows_of(db, daily_counts_rows), rows_of(db, counted_rows));
  EXPECT_EQ(db.execAndGet("SELECT sum(events) FROM daily_counts").getInt(), 2000 - 40);
  // Every lookup by email and by sg_message_id finds what a full scan finds (`+email` keeps
  // SQLite from using the index).
  for (const std::string key : {"r0@example.com", "r5@example.com", "r36@example.com"}) {
    SQLite::Statement a(db, "SELECT count(*) FROM activity WHERE email = ?");
    SQLite::Statement b(db, "SELECT count(*) FROM activity WHERE +email = ?");
    a.bind(1, key);
    b.bind(1, key);
    ASSERT_TRUE(a.executeStep() && b.executeStep());
    EXPECT_EQ(a.getColumn(0).getInt(), b.getColumn(0).getInt()) << key;
    EXPECT_GT(a.getColumn(0).getInt(), 0);
  }
  for (const std::string key : {"m0", "m50", "m100"}) {
    SQLite::Statement a(db, "SELECT count(*) FROM activity WHERE sg_message_id = ?");
    SQLite::Statement b(db, "SELECT count(*) FROM activity WHERE +sg_message_id = ?");
    a.bind(1, key);
    b.bind(1, key);
    ASSERT_TRUE(a.executeStep() && b.executeStep());
    EXPECT_EQ(a.getColumn(0).getInt(), b.getColumn(0).getInt()) << key;
  }
  SQLite::Statement plan(db, "EXPLAIN QUERY PLAN SELECT * FROM delivered WHERE email = 'x'");
  ASSERT_TRUE(plan.executeStep());
  EXPECT_NE(plan.getColumn(3).getString().find("ANY(ingest_segment) AND email=?"),
            std::string::npos)
      << plan.getColumn(3).getString();
  // Counts over a time range seek each segment's part of the timestamp index (schema/0011) and
  // find what a full scan finds.
  const auto counts_between = [&](const std::string& column, std::int64_t lo, std::int64_t hi) {
    SQLite::Statement q(db, "SELECT event, count(*) FROM activity WHERE " + column +
                                " BETWEEN ? AND ? GROUP BY event ORDER BY event");
    q.bind(1, lo);
    q.bind(2, hi);
    std::string out;
    while (q.executeStep())
      out += q.getColumn(0).getString() + "=" + q.getColumn(1).getString() + " ";
    return out;
  };
  const std::int64_t first = db.execAndGet("SELECT min(timestamp) FROM event_rows").getInt64();
  const std::int64_t last = db.execAndGet("SELECT max(timestamp) FROM event_rows").getInt64();
  const std::int64_t third = (last - first) / 3;
  ASSERT_GT(third, 0);
  for (const auto& [lo, hi] : {std::pair{first, last}, std::pair{first + third, last - third}}) {
    const std::string indexed = counts_between("timestamp", lo, hi);
    EXPECT_EQ(indexed, counts_between("+timestamp", lo, hi));
    EXPECT_NE(indexed, "");
  }
  SQLite::Statement time_plan(
      db, "EXPLAIN QUERY PLAN SELECT count(*) FROM event_rows WHERE timestamp BETWEEN 1 AND 2");
  ASSERT_TRUE(time_plan.executeStep());
  EXPECT_NE(time_plan.getColumn(3).getString().find(
                "event_rows_by_time (ANY(ingest_segment) AND timestamp>? AND timestamp<?)"),
            std::string::npos)
      << time_plan.getColumn(3).getString();
}

TEST(IndexSegments, JoinsOnEmailUseTheIndexesNotATemporaryOne) {
  temp_dir t;
  SQLite::Database db(t.file().string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  sgs::store::migrate(db);
  // The README's "recipients with their last open and click".
  SQLite::Statement plan(db,
                         "EXPLAIN QUERY PLAN SELECT r.email, max(o.timestamp), max(c.timestamp) "
                         "FROM recipients r LEFT JOIN _open o ON o.email = r.email "
                         "LEFT JOIN click c ON c.email = r.email WHERE r.deleted_at IS NULL "
                         "GROUP BY r.email");
  std::string details;
  while (plan.executeStep()) details += plan.getColumn(3).getString() + "\n";
  // Both joins seek the one email index of event_rows (schema/0010).
  const std::string seek = "INDEX event_rows_by_email (ANY(ingest_segment) AND email=?)";
  const auto first = details.find(seek);
  ASSERT_NE(first, std::string::npos) << details;
  EXPECT_NE(details.find(seek, first + 1), std::string::npos) << details;
  EXPECT_EQ(details.find("AUTOMATIC"), std::string::npos) << details;
}

TEST(IndexSegments, CountsAMergeCommittedButNotFoldedBeforeACrashOnceAtOpen) {
  temp_dir t;
  {
    // Never folds while running: what a crash right after merges leaves.
    auto store = sgs::store::sqlite_event_store::open(
        {.file = t.file(), .daily_counts_fold_events = 1'000'000'000});
    ASSERT_EQ(write(*store, body_of(0, 500)).stored, 500u);
    store->close();
    SQLite::Database db(t.file().string(), SQLite::OPEN_READONLY);
    EXPECT_EQ(frozen_of(db).through, 0);
    EXPECT_EQ(rows_of(db, daily_counts_rows), rows_of(db, counted_rows));  // the live part
  }
  for (int reopen = 0; reopen < 2; ++reopen) {
    sgs::store::sqlite_event_store::open({.file = t.file()})->close();
    SQLite::Database db(t.file().string(), SQLite::OPEN_READONLY);
    EXPECT_GT(frozen_of(db).through, 0);
    EXPECT_EQ(rows_of(db, daily_counts_rows), rows_of(db, counted_rows));
    EXPECT_EQ(db.execAndGet("SELECT sum(events) FROM daily_counts").getInt(), 490);
  }
}

TEST(IndexSegments, AStoreWrittenBeforeTheMigrationKeepsEveryEventAndGetsTheNewLayout) {
  temp_dir t;
  const std::string pending_body = body_of(5000, 40);
  {
    // A version-5 store: events of every type, other and rejected events, and a body
    // acknowledged but not merged yet.
    SQLite::Database db(t.file().string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    sgs::store::migrate(db, {}, 5);
    ASSERT_EQ(db.execAndGet("PRAGMA user_version").getInt(), 5);
    SQLite::Statement pending(db,
                              "INSERT INTO pending_bodies (received_at, body, events) VALUES "
                              "('2026-01-01T00:00:00.000Z', ?, 40)");
    pending.bind(1, pending_body);
    pending.exec();
    int n = 0;
    for (auto t : sgs::events::all_event_types) {
      const std::string table(sgs::events::table_name(t));
      for (int i = 0; i < 30; ++i, ++n) {
        const std::string id = std::to_string(n);
        db.exec("INSERT INTO " + table + " (" +
                (t == sgs::events::event_type::other ? "event, " : "") +
                "sg_event_id, sg_message_id, email, timestamp, raw, received_at) VALUES (" +
                (t == sgs::events::event_type::other ? "'x-new', " : "") + "'old" + id + "', 'mo" +
                std::to_string(n % 9) + "', 'o" + std::to_string(n % 13) + "@example.com', " +
                std::to_string(1600000000 + n * 86400 / 5) + ", '{}', '2026-01-01T00:00:00.000Z')");
      }
    }
    db.exec(
        "INSERT INTO rejected_events (reason, raw, received_at) VALUES ('bad', '7', "
        "'2026-01-01T00:00:00.000Z')");
  }
  std::vector<std::string> steps;
  auto store = sgs::store::sqlite_event_store::open(
      {.file = t.file(),
       .dedup_window = std::chrono::hours(24 * 365 * 100),
       .on_migration_step = [&](const sgs::store::migration_step& s) {
         steps.push_back(std::string(s.migration) + " " + std::to_string(s.done) + "/" +
                         std::to_string(s.total) + " " + s.statement);
       }});
  store->close();
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.front().rfind("0006_index_segments 1/", 0), 0u) << steps.front();
  EXPECT_TRUE(std::any_of(steps.begin(), steps.end(), [](const std::string& s) {
    return s.starts_with("0006_index_segments ") && s.find("CREATE VIEW daily_counts") != s.npos;
  }));

  SQLite::Database db(t.file().string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), sgs::store::latest_schema_version());
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM activity WHERE sg_event_id LIKE 'old%'").getInt(),
            13 * 30);
  EXPECT_EQ(db.execAndGet("SELECT count(DISTINCT sg_event_id) FROM activity").getInt(),
            13 * 30 + 40);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM activity").getInt(), 13 * 30 + 40);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM rejected_events").getInt(), 1);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM other_events WHERE event = 'x-new'").getInt(), 30);
  EXPECT_EQ(
      db.execAndGet("SELECT max(ingest_segment) FROM _open WHERE sg_event_id LIKE 'old%'").getInt(),
      0);
  EXPECT_EQ(rows_of(db, daily_counts_rows), rows_of(db, counted_rows));
  SQLite::Database pending(sgs::store::pending_file_for(t.file()).string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(pending.execAndGet("SELECT count(*) FROM pending_bodies").getInt(), 0);
}

}  // namespace
