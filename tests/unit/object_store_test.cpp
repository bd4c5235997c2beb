// Unit tests of the object store on a SQLite file in a temp dir: staging, sorted merge,
// unchanged rows not rewritten, tombstones and revival, sync_runs.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "store/migrations.hpp"
#include "store/sqlite_object_store.hpp"

using sgs::store::collection;
using sgs::store::object_row;
using sgs::store::object_store;
namespace lc = sgs::store::list_col;

namespace {

std::pair<std::int64_t, std::int64_t> counts(std::int64_t upserted, std::int64_t tombstoned) {
  return {upserted, tombstoned};
}

class ObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("sgs-objects-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    sgs::store::object_store_options o;
    o.file = dir_ / "default.db";
    o.merge_batch_rows = 3;  // several merge transactions even for a handful of rows
    o.stage_batch_rows = 2;
    store_ = sgs::store::sqlite_object_store::open(o);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // One complete run over `lists` (id -> name).
  std::pair<std::int64_t, std::int64_t> sync_lists(
      const std::vector<std::pair<std::string, std::string>>& lists, const std::string& at,
      bool complete = true) {
    store_->begin_collection(collection::lists);
    object_row row(collection::lists);
    for (const auto& [id, name] : lists) {
      row.clear();
      row.text(lc::id, id);
      row.text(lc::name, name);
      row.integer(lc::contact_count, 1);
      row.owned(lc::raw) = "{\"id\":\"" + id + "\",\"name\":\"" + name + "\"}";
      store_->stage(row);
    }
    const auto upserted = store_->merge("marketing", at, [] { return true; });
    const auto tombstoned = complete ? store_->tombstone(at, [] { return true; }) : 0;
    store_->end_collection();
    return {upserted, tombstoned};
  }
  std::string query(const std::string& sql) {
    SQLite::Database d((dir_ / "default.db").string(), SQLite::OPEN_READONLY);
    SQLite::Statement q(d, sql);
    if (!q.executeStep() || q.getColumn(0).isNull()) return {};
    return q.getColumn(0).getString();
  }
  std::filesystem::path dir_;
  std::unique_ptr<object_store> store_;
};

}  // namespace

TEST_F(ObjectStoreTest, SchemaHasEveryColumnTheStoreWrites) {
  SQLite::Database d((dir_ / "default.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(d.execAndGet("PRAGMA user_version").getInt(), sgs::store::latest_schema_version());
  for (auto c : sgs::store::all_collections) {
    for (auto col : sgs::store::columns(c)) {
      SQLite::Statement q(d, "SELECT count(*) FROM pragma_table_info(?) WHERE name=?");
      q.bind(1, std::string(sgs::store::collection_name(c)));
      q.bind(2, std::string(col));
      q.executeStep();
      EXPECT_EQ(q.getColumn(0).getInt(), 1) << sgs::store::collection_name(c) << "." << col;
    }
  }
}

TEST_F(ObjectStoreTest, MergeInsertsThenSkipsUnchangedRows) {
  const std::vector<std::pair<std::string, std::string>> lists = {
      {"e1", "five"}, {"a1", "one"}, {"c1", "three"}, {"b1", "two"},
      {"d1", "four"}, {"f1", "six"}, {"g1", "seven"}};
  EXPECT_EQ(sync_lists(lists, "T1"), counts(7, 0));
  EXPECT_EQ(query("SELECT count(*) FROM lists"), "7");
  // Inserted in id order: rowid order is id order (what makes the merge an append).
  EXPECT_EQ(query("SELECT group_concat(id) FROM (SELECT id FROM lists ORDER BY rowid)"),
            "a1,b1,c1,d1,e1,f1,g1");
  EXPECT_EQ(
      query("SELECT name || contact_count || source_api || synced_at FROM lists WHERE id='c1'"),
      "three1marketingT1");
  // The same again: nothing written, synced_at keeps the time of the last change.
  EXPECT_EQ(sync_lists(lists, "T2"), counts(0, 0));
  EXPECT_EQ(query("SELECT count(*) FROM lists"), "7");
  EXPECT_EQ(query("SELECT synced_at FROM lists WHERE id='c1'"), "T1");
}

TEST_F(ObjectStoreTest, CompleteRunTombstonesMissingRowsAndARowComingBackIsRevived) {
  sync_lists({{"a", "A"}, {"b", "B"}, {"c", "C"}}, "T1");
  EXPECT_EQ(sync_lists({{"a", "A"}, {"c", "C renamed"}}, "T2"), counts(1, 1));
  EXPECT_EQ(query("SELECT deleted_at FROM lists WHERE id='b'"), "T2");
  EXPECT_EQ(query("SELECT name FROM lists WHERE id='c'"), "C renamed");
  EXPECT_EQ(query("SELECT count(*) FROM lists WHERE deleted_at IS NULL"), "2");
  // Still gone: the tombstone keeps its first time.
  EXPECT_EQ(sync_lists({{"a", "A"}, {"c", "C renamed"}}, "T3"), counts(0, 0));
  EXPECT_EQ(query("SELECT deleted_at FROM lists WHERE id='b'"), "T2");
  // Back: revived, with the time it was seen again.
  EXPECT_EQ(sync_lists({{"a", "A"}, {"b", "B"}, {"c", "C renamed"}}, "T4"), counts(1, 0));
  EXPECT_EQ(query("SELECT coalesce(deleted_at, 'none') || synced_at FROM lists WHERE id='b'"),
            "noneT4");
}

TEST_F(ObjectStoreTest, PartialRunUpsertsButTombstonesNothing) {
  sync_lists({{"a", "A"}, {"b", "B"}}, "T1");
  sync_lists({{"a", "A2"}}, "T2", /*complete=*/false);
  EXPECT_EQ(query("SELECT name FROM lists WHERE id='a'"), "A2");
  EXPECT_EQ(query("SELECT count(*) FROM lists WHERE deleted_at IS NOT NULL"), "0");
}

TEST_F(ObjectStoreTest, DuplicateIdsInOneRunGiveOneRow) {
  sync_lists({{"a", "A"}, {"a", "A"}, {"b", "B"}, {"a", "A"}}, "T1");
  EXPECT_EQ(query("SELECT count(*) FROM lists"), "2");
}

TEST_F(ObjectStoreTest, StopBetweenMergeTransactionsKeepsWhatWasCommitted) {
  store_->begin_collection(collection::lists);
  object_row row(collection::lists);
  for (int i = 0; i < 10; ++i) {
    row.clear();
    row.owned(lc::id) = "id" + std::to_string(i);
    row.owned(lc::raw) = "{}";
    store_->stage(row);
  }
  int asked = 0;
  const auto merged = store_->merge("marketing", "T", [&] { return ++asked <= 2; });
  store_->end_collection();
  EXPECT_EQ(merged, 6);  // two transactions of merge_batch_rows = 3
  EXPECT_EQ(query("SELECT count(*) FROM lists"), "6");
}

TEST_F(ObjectStoreTest, SyncRunsRecordEachCollectionRun) {
  const auto row =
      store_->begin_run("R1", "default", collection::segments, "2026-01-01T00:00:00.000Z");
  sgs::store::run_counts counts;
  counts.pages = 2;
  counts.rows_seen = 10;
  counts.rows_upserted = 9;
  counts.rows_tombstoned = 1;
  counts.http_retries = 3;
  counts.rate_limit_waits = 4;
  store_->finish_run(row, sgs::store::run_status::succeeded, "legacy", counts,
                     "2026-01-01T00:00:05.000Z", "");
  const auto runs = store_->recent_runs(5);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].collection, "segments");
  EXPECT_EQ(runs[0].status, "succeeded");
  EXPECT_EQ(runs[0].source_api, "legacy");
  EXPECT_EQ(runs[0].counts.rows_upserted, 9);
  EXPECT_EQ(runs[0].counts.rate_limit_waits, 4);
  EXPECT_EQ(store_->last_success(collection::segments), "2026-01-01T00:00:05.000Z");
  EXPECT_EQ(store_->last_success(collection::lists), "");
  EXPECT_EQ(query("SELECT error IS NULL AND source='default' AND run_id='R1' FROM sync_runs"), "1");
}
