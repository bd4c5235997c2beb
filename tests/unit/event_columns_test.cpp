// The one table of event columns (store/event_columns.hpp) against the schema a fresh database
// gets from the migrations: each per-type view over event_rows (schema/0010) has the same
// names, in the same order; a stored column keeps its declared type, a sqlite_view one is an
// expression (no declared type); every stored column is a column of event_rows.
#include "store/event_columns.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>

#include "events/event.hpp"
#include "store/migrations.hpp"

namespace {

struct column_info {
  std::string name;
  std::string type;
  bool operator==(const column_info&) const = default;
};

std::ostream& operator<<(std::ostream& out, const column_info& c) {
  return out << c.name << " " << (c.type.empty() ? "(computed)" : c.type);
}

std::string type_of(const sgs::store::event_column& c) {
  return c.type == sgs::store::column_type::integer ? "INTEGER" : "TEXT";
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
      declared.push_back({std::string(c.name), c.sqlite_view ? "" : type_of(c)});
    }
    for (auto t : sgs::events::all_event_types) {
      const std::string table(sgs::events::table_name(t));
      EXPECT_EQ(
          db.execAndGet("SELECT type FROM sqlite_schema WHERE name = '" + table + "'").getString(),
          "view");
      std::vector<column_info> actual;
      SQLite::Statement q(db, "SELECT name, type FROM pragma_table_info(?)");
      q.bind(1, table);
      while (q.executeStep()) {
        actual.push_back({q.getColumn(0).getString(), q.getColumn(1).getString()});
      }
      std::vector<column_info> expected = declared;
      if (t == sgs::events::event_type::other) {
        expected.insert(expected.begin(), column_info{"event", "TEXT"});
      }
      EXPECT_EQ(actual, expected) << "view " << table;
    }
    std::map<std::string, std::string> stored;
    SQLite::Statement q(db, "SELECT name, type FROM pragma_table_info('event_rows')");
    while (q.executeStep()) stored[q.getColumn(0).getString()] = q.getColumn(1).getString();
    for (const auto& c : sgs::store::event_columns) {
      if (c.sqlite_view) {
        EXPECT_FALSE(stored.contains(std::string(c.name))) << c.name;
      } else {
        EXPECT_EQ(stored[std::string(c.name)], type_of(c)) << c.name;
      }
    }
    for (const char* own :
         {"kind", "event", "body", "email_at", "message_at", "received_at_ms", "normalized"}) {
      EXPECT_TRUE(stored.contains(own)) << own;
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
