// The one table of event columns (store/event_columns.hpp) against the schema a fresh database
// gets from the migrations: same names, in the same order, same types and NOT NULLs, the
// sqlite_virtual ones VIRTUAL generated columns, then `normalized` (schema/0008).
#include "store/event_columns.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "events/event.hpp"
#include "store/migrations.hpp"

namespace {

struct column_info {
  std::string name;
  std::string type;
  bool not_null = false;
  bool generated = false;
  bool operator==(const column_info&) const = default;
};

std::ostream& operator<<(std::ostream& out, const column_info& c) {
  return out << c.name << " " << c.type << (c.not_null ? " NOT NULL" : "")
             << (c.generated ? " VIRTUAL" : "");
}

TEST(EventColumns, EveryEventTableOfAFreshDatabaseHasExactlyTheDeclaredColumns) {
  std::random_device rd;
  const auto file = std::filesystem::temp_directory_path() /
                    ("sgs-columns-" + std::to_string(rd()) + std::to_string(rd()) + ".db");
  {
    SQLite::Database db(file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    sgs::store::migrate(db);
    std::vector<column_info> declared;
    for (const auto& c : sgs::store::event_columns) {
      declared.push_back({std::string(c.name),
                          c.type == sgs::store::column_type::integer ? "INTEGER" : "TEXT",
                          c.not_null && !c.sqlite_virtual, c.sqlite_virtual});
    }
    declared.push_back({"received_at_ms", "INTEGER", true, false});
    declared.push_back({"normalized", "TEXT", false, false});
    for (auto t : sgs::events::all_event_types) {
      const std::string table(sgs::events::table_name(t));
      std::vector<column_info> actual;
      // table_xinfo: table_info leaves generated columns out. hidden = 2: VIRTUAL generated.
      SQLite::Statement q(db, "SELECT name, type, \"notnull\", hidden FROM pragma_table_xinfo(?)");
      q.bind(1, table);
      while (q.executeStep()) {
        actual.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                          q.getColumn(2).getInt() != 0, q.getColumn(3).getInt() == 2});
      }
      std::vector<column_info> expected = declared;
      if (t == sgs::events::event_type::other) {
        expected.insert(expected.begin(), column_info{"event", "TEXT", true});
      }
      EXPECT_EQ(actual, expected) << "table " << table;
    }
  }
  std::filesystem::remove(file);
}

TEST(EventColumns, TheColumnListIsTheDeclaredNamesInOrder) {
  const std::string list = sgs::store::event_column_list();
  EXPECT_TRUE(list.starts_with("sg_event_id, sg_message_id, email, timestamp, "));
  EXPECT_TRUE(list.ends_with(", custom_args, raw, received_at, ingest_segment"));
}

}  // namespace
