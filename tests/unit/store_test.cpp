// Store tests on real SQLite files in a temp dir: migrations, dedup index, writes, restart.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <random>
#include <variant>

#include "events/parse.hpp"
#include "store/dedup_index.hpp"
#include "store/migrations.hpp"
#include "store/sqlite_event_store.hpp"
#include "store/store_summary.hpp"

namespace {

using namespace std::chrono_literals;
using sgs::store::dedup_index;
using sgs::store::event_store;
using sgs::store::write_result;

struct temp_db {
  std::filesystem::path dir;
  temp_db() {
    std::random_device rd;
    dir = std::filesystem::temp_directory_path() /
          ("sgs-store-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(dir);
  }
  ~temp_db() { std::filesystem::remove_all(dir); }
  std::filesystem::path file() const { return dir / "s.db"; }
};

sgs::events::parsed_batch parse(const std::string& body) {
  auto r = sgs::events::parse_batch(body);
  if (auto* e = std::get_if<sgs::events::batch_error>(&r)) throw std::runtime_error(e->message);
  return std::get<sgs::events::parsed_batch>(std::move(r));
}

write_result write(event_store& store, const std::string& body,
                   std::chrono::system_clock::time_point at = std::chrono::system_clock::now()) {
  std::promise<write_result> done;
  auto f = done.get_future();
  store.submit(parse(body), at, [&](const write_result& r) { done.set_value(r); });
  return f.get();
}

sgs::events::dedup_key key(std::uint64_t n) { return {n * 0x9E3779B97F4A7C15ull, n}; }

TEST(DedupIndex, FindsInsertedKeysAndNotOthers) {
  dedup_index index(72h);
  const auto now = std::chrono::system_clock::now();
  for (std::uint64_t i = 1; i <= 100000; ++i) index.insert(key(i), now);
  for (std::uint64_t i = 1; i <= 100000; ++i) ASSERT_TRUE(index.contains(key(i)));
  for (std::uint64_t i = 100001; i <= 200000; ++i) ASSERT_FALSE(index.contains(key(i)));
  EXPECT_EQ(index.size(), 100000u);
  EXPECT_LT(index.memory_bytes(), 100000u * 16 * 3);
}

TEST(DedupIndex, StaysExactAtHighLoadAndAcrossGrowth) {
  dedup_index index(72h);
  const auto now = std::chrono::system_clock::now();
  // 117964 keys fill 2^17 slots to 90%; then one more forces the doubling.
  for (std::uint64_t i = 1; i <= 117965; ++i) index.insert(key(i), now);
  for (std::uint64_t i = 1; i <= 117965; ++i) ASSERT_TRUE(index.contains(key(i))) << i;
  for (std::uint64_t i = 200000; i <= 400000; ++i) ASSERT_FALSE(index.contains(key(i))) << i;
  // Keys whose home slots collide (same low bits) are all found.
  for (std::uint64_t i = 1; i <= 50; ++i) index.insert({i, 7}, now);
  for (std::uint64_t i = 1; i <= 50; ++i) ASSERT_TRUE(index.contains({i, 7}));
  EXPECT_FALSE(index.contains({51, 7}));
  EXPECT_EQ(index.size(), 117965u + 50u);
}

TEST(DedupIndex, ASegmentGrownPastTwoMegabytesInItsOwnMappingKeepsEveryKey) {
  dedup_index index(72h);
  const auto now = std::chrono::system_clock::now();
  // The top 6 bits pick the segment: these keys all go to segment 0, whose array grows past
  // 2 MiB (131072 slots) and moves into memory mapped for huge pages, then grows again there.
  const auto one_segment = [](std::uint64_t i) {
    return sgs::events::dedup_key{(i * 0x9E3779B97F4A7C15ull) >> 6, i * 0xD6E8FEB86659FD93ull};
  };
  constexpr std::uint64_t n = 200000;
  for (std::uint64_t i = 1; i <= n; ++i) index.insert(one_segment(i), now);
  EXPECT_GE(index.memory_bytes(), 2u * 1024 * 1024);
  for (std::uint64_t i = 1; i <= n; ++i) ASSERT_TRUE(index.contains(one_segment(i))) << i;
  for (std::uint64_t i = n + 1; i <= 2 * n; ++i) ASSERT_FALSE(index.contains(one_segment(i))) << i;
  EXPECT_EQ(index.size(), n);
  index.expire(now + 200h);  // frees both kinds of arrays
  EXPECT_EQ(index.size(), 0u);
  EXPECT_FALSE(index.contains(one_segment(1)));
}

TEST(DedupIndex, KeepsKeysForTheWholeWindowThenExpiresThem) {
  dedup_index index(72h);
  const auto t0 = std::chrono::system_clock::time_point(std::chrono::hours(480000));
  index.insert(key(1), t0);
  index.expire(t0 + 71h);
  EXPECT_TRUE(index.contains(key(1)));
  index.expire(t0 + 72h + 36h + 1s);
  EXPECT_FALSE(index.contains(key(1)));
}

TEST(DedupIndex, ZeroKeyIsStorable) {
  dedup_index index(1h);
  index.insert({0, 0}, std::chrono::system_clock::now());
  EXPECT_TRUE(index.contains({0, 0}));
}

TEST(Migrations, CreateEveryTableAndViewAndSetTheVersion) {
  temp_db t;
  SQLite::Database db(t.file().string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  EXPECT_GE(sgs::store::migrate(db), 1);
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), sgs::store::latest_schema_version());
  for (auto type : sgs::events::all_event_types) {
    const std::string table(sgs::events::table_name(type));
    // A view over event_rows since schema/0010.
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM sqlite_master WHERE type='view' AND name='" +
                            table + "'")
                  .getInt(),
              1)
        << table;
  }
  EXPECT_EQ(
      db.execAndGet("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='event_rows'")
          .getInt(),
      1);
  EXPECT_EQ(
      db.execAndGet("SELECT count(*) FROM sqlite_master WHERE type='view' AND name='activity'")
          .getInt(),
      1);
  EXPECT_EQ(sgs::store::migrate(db), 0);  // idempotent
}

TEST(Migrations, RefuseADatabaseFromANewerVersion) {
  temp_db t;
  SQLite::Database db(t.file().string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec("PRAGMA user_version = 9999");
  EXPECT_THROW(sgs::store::migrate(db), sgs::store::migration_error);
}

TEST(Migrations, LookupQueriesUseIndexes) {
  temp_db t;
  SQLite::Database db(t.file().string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  sgs::store::migrate(db);
  for (const std::string where :
       {"email = 'a@b.c'", "sg_message_id = 'm'", "timestamp BETWEEN 1 AND 2"}) {
    SQLite::Statement plan(db, "EXPLAIN QUERY PLAN SELECT * FROM activity WHERE " + where);
    while (plan.executeStep()) {
      // "SCAN activity" walks the view's co-routine; every table inside must be searched.
      const std::string detail = plan.getColumn(3).getString();
      if (detail == "SCAN activity") continue;
      EXPECT_EQ(detail.find("SCAN"), std::string::npos) << where << ": " << detail;
    }
  }
}

TEST(EventStore, StoresDedupsAndSurvivesReopen) {
  temp_db t;
  const std::string body =
      R"([{"email":"a@b.c","timestamp":1,"event":"open","sg_event_id":"e1","sg_message_id":"m1"},
          {"email":"a@b.c","timestamp":2,"event":"click","sg_event_id":"e2","sg_message_id":"m1","url":"https://x"}])";
  {
    auto store = sgs::store::sqlite_event_store::open({.file = t.file()});
    auto r = write(*store, body);
    EXPECT_EQ(r.status, write_result::outcome::committed);
    EXPECT_EQ(r.stored, 2u);
    EXPECT_EQ(write(*store, body).duplicates, 2u);
  }
  auto store = sgs::store::sqlite_event_store::open({.file = t.file()});
  EXPECT_EQ(store->dedup_keys(), 4u);  // id and fingerprint of each
  EXPECT_EQ(write(*store, body).duplicates, 2u);
  const auto summary = sgs::store::read_summary(t.file());
  EXPECT_EQ(summary.total_events, 2);
  EXPECT_TRUE(summary.last_received_at.has_value());
}

TEST(EventStore, RowsOlderThanTheWindowAreNotDedupedAfterRestart) {
  temp_db t;
  const std::string body =
      R"([{"email":"a@b.c","timestamp":1,"event":"open","sg_event_id":"old"}])";
  {
    auto store = sgs::store::sqlite_event_store::open({.file = t.file(), .dedup_window = 1h});
    write(*store, body, std::chrono::system_clock::now() - 2h);
  }
  auto store = sgs::store::sqlite_event_store::open({.file = t.file(), .dedup_window = 1h});
  EXPECT_EQ(store->dedup_keys(), 0u);
}

TEST(EventStore, FailedCommitMarksNothingAsSeen) {
  temp_db t;
  auto store = sgs::store::sqlite_event_store::open({.file = t.file(), .busy_timeout = 100ms});
  const std::string body = R"([{"email":"a@b.c","timestamp":1,"event":"open","sg_event_id":"e1"}])";
  {
    // Acknowledging commits to the pending file: with it locked, nothing can be acknowledged.
    SQLite::Database other(sgs::store::pending_file_for(t.file()).string(), SQLite::OPEN_READWRITE);
    other.exec("BEGIN IMMEDIATE");
    auto r = write(*store, body);
    EXPECT_EQ(r.status, write_result::outcome::failed);
    EXPECT_FALSE(r.error.empty());
    EXPECT_FALSE(store->healthy());
  }
  auto r = write(*store, body);
  EXPECT_EQ(r.status, write_result::outcome::committed);
  EXPECT_EQ(r.stored, 1u);
  EXPECT_TRUE(store->healthy());
}

// A locked pending file fails every batch of a group alike: retrying each alone would make each
// wait out the busy timeout again, so N queued requests got their 503 after N timeouts.
TEST(EventStore, LockedPendingFileFailsAQueuedGroupAtOnceNotBatchByBatch) {
  temp_db t;
  auto store = sgs::store::sqlite_event_store::open({.file = t.file(), .busy_timeout = 300ms});
  SQLite::Database other(sgs::store::pending_file_for(t.file()).string(), SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");
  constexpr int batches = 8;
  std::mutex m;
  std::condition_variable cv;
  std::vector<write_result> results;
  for (int i = 0; i < batches; ++i) {
    // All submitted while the writer waits out the busy timeout of the first group.
    const std::string body = R"([{"email":"a@b.c","timestamp":1,"event":"open","sg_event_id":"q)" +
                             std::to_string(i) + R"("}])";
    store->submit(parse(body), std::chrono::system_clock::now(), [&](const write_result& r) {
      std::lock_guard lock(m);
      results.push_back(r);
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return results.size() == batches; }));
  }
  for (const auto& r : results) {
    EXPECT_EQ(r.status, write_result::outcome::failed);
    EXPECT_NE(r.error.find("locked"), std::string::npos) << r.error;
  }
  // One failed transaction per group (the first batch may form a group of its own), not one
  // per batch on top.
  EXPECT_LE(store->counters().failed_commits.load(), 2u);
  other.exec("ROLLBACK");
  EXPECT_EQ(write(*store, R"([{"email":"a@b.c","timestamp":1,"event":"open","sg_event_id":"q0"}])")
                .stored,
            1u);
}

TEST(EventStore, BodiesAnOlderVersionLeftInTheTablesFileAreMergedAndDedupedAtOpen) {
  temp_db t;
  const std::string body =
      R"([{"email":"a@b.c","timestamp":1,"event":"open","sg_event_id":"e1"},
          {"email":"a@b.c","timestamp":2,"event":"open","sg_event_id":"e2"}, 7])";
  {
    // What a crash of a version before 0.2 leaves: the migrated file with an acknowledged
    // body not yet merged, in its own pending_bodies; the second event was a duplicate when
    // it arrived.
    SQLite::Database db(t.file().string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    sgs::store::migrate(db);
    SQLite::Statement ins(db,
                          "INSERT INTO pending_bodies (received_at, body, events, duplicates) "
                          "VALUES ('2026-01-01T00:00:00.000Z', ?, 2, x'01000000')");
    ins.bind(1, body.data(), static_cast<int>(body.size()));
    ins.exec();
  }
  {
    auto store = sgs::store::sqlite_event_store::open(
        {.file = t.file(), .dedup_window = std::chrono::hours(24 * 365 * 100)});
    EXPECT_EQ(store->counters().pending_events.load(), 0u);  // merged while opening
    EXPECT_EQ(
        write(*store, R"([{"email":"a@b.c","timestamp":1,"event":"open","sg_event_id":"e1"}])")
            .duplicates,
        1u);
  }
  SQLite::Database db(t.file().string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM _open").getInt(), 1);
  EXPECT_EQ(db.execAndGet("SELECT sg_event_id FROM _open").getString(), "e1");
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM rejected_events").getInt(), 1);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM pending_bodies").getInt(), 0);
}

TEST(EventStore, SmallBatchesAreAcknowledgedFromPendingBodiesAndMergedExactlyOnce) {
  temp_db t;
  auto store =
      sgs::store::sqlite_event_store::open({.file = t.file(), .merge_after_events = 1000000});
  for (int i = 0; i < 50; ++i) {
    const std::string id = std::to_string(i);
    ASSERT_EQ(write(*store, R"([{"email":"a@b.c","timestamp":)" + id +
                                R"(,"event":"delivered","sg_event_id":"d)" + id + R"("}])")
                  .stored,
              1u);
  }
  store->close();  // merges what is pending
  SQLite::Database db(t.file().string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM delivered").getInt(), 50);
  EXPECT_EQ(db.execAndGet("SELECT count(DISTINCT sg_event_id) FROM delivered").getInt(), 50);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM pending_bodies").getInt(), 0);
  EXPECT_EQ(db.execAndGet("SELECT sum(events) FROM daily_counts").getInt(), 50);
  SQLite::Database pending(sgs::store::pending_file_for(t.file()).string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(pending.execAndGet("SELECT count(*) FROM pending_bodies").getInt(), 0);
}

namespace {

// Appends a body to the pending file as the writer does, as if acknowledged before a crash.
void insert_pending_body(const std::filesystem::path& db_file, const std::string& body, int events,
                         std::optional<std::int64_t> id = std::nullopt) {
  SQLite::Database pending(sgs::store::pending_file_for(db_file).string(), SQLite::OPEN_READWRITE);
  SQLite::Statement ins(pending, id ? "INSERT INTO pending_bodies (id, received_at, body, events) "
                                      "VALUES (?2, '2026-01-01T00:00:00.000Z', ?1, ?3)"
                                    : "INSERT INTO pending_bodies (received_at, body, events) "
                                      "VALUES ('2026-01-01T00:00:00.000Z', ?1, ?3)");
  ins.bind(1, body.data(), static_cast<int>(body.size()));
  if (id) ins.bind(2, static_cast<std::int64_t>(*id));
  ins.bind(3, events);
  ins.exec();
}

int count(const std::filesystem::path& file, const std::string& sql) {
  SQLite::Database db(file.string(), SQLite::OPEN_READONLY);
  return db.execAndGet(sql).getInt();
}

}  // namespace

TEST(EventStore, BodiesAcknowledgedBeforeACrashAreCountedDedupedAndMergedAtOpen) {
  temp_db t;
  sgs::store::sqlite_event_store::open({.file = t.file()})->close();  // creates both files
  insert_pending_body(t.file(),
                      R"([{"email":"a@b.c","timestamp":1,"event":"open","sg_event_id":"p1"}])", 1);
  {
    auto store = sgs::store::sqlite_event_store::open(
        {.file = t.file(), .dedup_window = std::chrono::hours(24 * 365 * 100)});
    EXPECT_EQ(store->counters().pending_events.load(), 1u);
    // Acknowledged already, so a retry of it is a duplicate even before it is merged.
    EXPECT_EQ(
        write(*store, R"([{"email":"a@b.c","timestamp":1,"event":"open","sg_event_id":"p1"}])")
            .duplicates,
        1u);
  }
  EXPECT_EQ(count(t.file(), "SELECT count(*) FROM _open WHERE sg_event_id = 'p1'"), 1);
  EXPECT_EQ(count(sgs::store::pending_file_for(t.file()), "SELECT count(*) FROM pending_bodies"),
            0);
}

TEST(EventStore, ABodyMergedBeforeACrashButNotYetDeletedIsNotMergedTwice) {
  temp_db t;
  const std::string body = R"([{"email":"a@b.c","timestamp":1,"event":"open","sg_event_id":"m1"},
      "not an event"])";
  {
    auto store = sgs::store::sqlite_event_store::open({.file = t.file()});
    ASSERT_EQ(write(*store, body).stored, 1u);
  }  // merged (as body id 1) and deleted from the pending file
  ASSERT_EQ(count(t.file(), "SELECT count(*) FROM _open"), 1);
  ASSERT_EQ(count(t.file(), "SELECT seq FROM sqlite_sequence WHERE name = 'merged_bodies'"), 1);
  // The crash: the merge committed, the deletion from the pending file did not happen.
  insert_pending_body(t.file(), body, 2, 1);
  sgs::store::sqlite_event_store::open({.file = t.file()})->close();
  EXPECT_EQ(count(t.file(), "SELECT count(*) FROM _open"), 1);
  EXPECT_EQ(count(t.file(), "SELECT count(*) FROM rejected_events"), 1);
  EXPECT_EQ(count(sgs::store::pending_file_for(t.file()), "SELECT count(*) FROM pending_bodies"),
            0);
}

TEST(EventStore, AReplacedPendingFileNeverReusesMergedIds) {
  temp_db t;
  {
    auto store = sgs::store::sqlite_event_store::open({.file = t.file()});
    ASSERT_EQ(
        write(*store, R"([{"email":"a@b.c","timestamp":1,"event":"open","sg_event_id":"r1"}])")
            .stored,
        1u);
  }
  // An operator removed the (empty) pending file while the daemon was stopped: new ids must not
  // start again at 1, which counts as merged already.
  std::filesystem::remove(sgs::store::pending_file_for(t.file()));
  {
    auto store = sgs::store::sqlite_event_store::open({.file = t.file()});
    ASSERT_EQ(
        write(*store, R"([{"email":"a@b.c","timestamp":2,"event":"open","sg_event_id":"r2"}])")
            .stored,
        1u);
  }
  EXPECT_EQ(count(t.file(), "SELECT count(*) FROM _open"), 2);
}

TEST(EventStore, AcknowledgingWaitsForTheMergerPastTheHighWaterMark) {
  temp_db t;
  constexpr std::size_t high_water = 2000;
  auto store = sgs::store::sqlite_event_store::open({.file = t.file(),
                                                     .merge_after_events = 500,
                                                     .merge_max_events = 500,
                                                     .pending_high_water = high_water});
  std::mutex m;
  std::condition_variable cv;
  int in_flight = 0;
  std::uint64_t most_pending = 0;
  constexpr int batches = 300;
  for (int b = 0; b < batches; ++b) {
    std::string body = "[";
    for (int i = 0; i < 100; ++i) {
      const std::string id = std::to_string(b * 1000 + i);
      body += std::string(i ? "," : "") + R"({"email":"u)" + id +
              R"(@x.io","timestamp":1,"event":"open","sg_event_id":"h)" + id + R"("})";
    }
    body += "]";
    {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return in_flight < 16; });
      ++in_flight;
    }
    store->submit(parse(body), std::chrono::system_clock::now(), [&](const write_result& r) {
      EXPECT_EQ(r.status, write_result::outcome::committed);
      std::lock_guard lock(m);
      most_pending = std::max(most_pending, store->counters().pending_events.load());
      --in_flight;
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return in_flight == 0; });
  }
  store->close();
  // Admission counts the events of the merge in progress as gone, and a group admitted below
  // the mark carries pending over it by its own size (the 16 batches in flight): bounded by
  // that, where without back-pressure it would grow towards all 30000.
  EXPECT_LE(most_pending, high_water + 500 + 2 * 16 * 100);
  EXPECT_EQ(count(t.file(), "SELECT count(*) FROM _open"), batches * 100);
}

TEST(EventStore, WalStaysBoundedUnderSustainedWrites) {
  temp_db t;
  // Small merges, so that the WAL's size is about checkpointing, not one big transaction.
  auto store = sgs::store::sqlite_event_store::open({.file = t.file(),
                                                     .merge_after_events = 1000,
                                                     .merge_max_events = 1000,
                                                     .checkpoint_after_frames = 16,
                                                     .restart_after_frames = 64});
  std::mutex m;
  std::condition_variable cv;
  int in_flight = 0;
  for (int b = 0; b < 300; ++b) {
    std::string body = "[";
    for (int i = 0; i < 200; ++i) {
      const std::string id = std::to_string(b * 1000 + i);
      body += std::string(i ? "," : "") + R"({"email":"u)" + id +
              R"(@x.io","timestamp":1,"event":"open","sg_event_id":"w)" + id +
              R"(","sg_message_id":"m)" + id + R"("})";
    }
    body += "]";
    {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return in_flight < 8; });
      ++in_flight;
    }
    store->submit(parse(body), std::chrono::system_clock::now(), [&](const write_result& r) {
      ASSERT_EQ(r.status, write_result::outcome::committed);
      std::lock_guard lock(m);
      --in_flight;
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return in_flight == 0; });
  }
  // Under sustained writes passive checkpoints never catch up, so without RESTART checkpoints
  // the WAL would never start over (and grow without bound).
  EXPECT_GT(store->counters().wal_resets.load(), 2u);
}

TEST(EventStore, SubmitAfterCloseAnswersClosed) {
  temp_db t;
  auto store = sgs::store::sqlite_event_store::open({.file = t.file()});
  store->close();
  EXPECT_EQ(write(*store, "[]").status, write_result::outcome::closed);
}

TEST(EventStore, OpenFailsWithAClearErrorForAnUnwritableDirectory) {
  try {
    sgs::store::sqlite_event_store::open({.file = "/proc/no-such-dir/x.db"});
    FAIL() << "expected store_error";
  } catch (const sgs::store::store_error& e) {
    EXPECT_NE(std::string(e.what()).find("/proc/no-such-dir"), std::string::npos);
  }
}

}  // namespace
