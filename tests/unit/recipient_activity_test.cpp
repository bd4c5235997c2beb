// The recipient_activity view of schema/0009: its values, and plans that reach the email indexes.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <array>
#include <random>
#include <string>
#include <vector>

#include "events/event.hpp"
#include "store/event_columns.hpp"
#include "store/migrations.hpp"

namespace {

// The tables the view reads.
constexpr std::array<const char*, 7> activity_tables = {
    "delivered", "_open", "click", "bounce", "unsubscribe", "group_unsubscribe", "spam_report"};

std::string plan_of(SQLite::Database& db, const std::string& sql) {
  SQLite::Statement plan(db, "EXPLAIN QUERY PLAN " + sql);
  std::string details;
  while (plan.executeStep()) details += plan.getColumn(3).getString() + "\n";
  return details;
}

// Every row of a query, columns joined by '|' (NULL as "-").
std::vector<std::string> rows_of(SQLite::Database& db, const std::string& sql,
                                 const std::string& email = {}) {
  SQLite::Statement q(db, sql);
  if (!email.empty()) q.bind(1, email);
  std::vector<std::string> out;
  while (q.executeStep()) {
    std::string row;
    for (int i = 0; i < q.getColumnCount(); ++i) {
      if (i) row += '|';
      row += q.getColumn(i).isNull() ? "-" : q.getColumn(i).getString();
    }
    out.push_back(row);
  }
  return out;
}

// The view's columns computed the obvious way: one GROUP BY email over every event row of the
// kinds it reports (group unsubscribes count as unsubscribes).
const char* brute_force =
    "SELECT email,"
    " max(CASE WHEN k = 'delivered' THEN timestamp END), sum(k = 'delivered'),"
    " max(CASE WHEN k = 'open' THEN timestamp END), sum(k = 'open'),"
    " max(CASE WHEN k = 'click' THEN timestamp END), sum(k = 'click'),"
    " max(CASE WHEN k = 'bounce' THEN timestamp END), sum(k = 'bounce'),"
    " max(CASE WHEN k = 'unsubscribe' THEN timestamp END), sum(k = 'unsubscribe'),"
    " max(CASE WHEN k = 'spam_report' THEN timestamp END), sum(k = 'spam_report') "
    "FROM (SELECT 'delivered' AS k, email, timestamp FROM delivered"
    " UNION ALL SELECT 'open', email, timestamp FROM _open"
    " UNION ALL SELECT 'click', email, timestamp FROM click"
    " UNION ALL SELECT 'bounce', email, timestamp FROM bounce"
    " UNION ALL SELECT 'unsubscribe', email, timestamp FROM unsubscribe"
    " UNION ALL SELECT 'unsubscribe', email, timestamp FROM group_unsubscribe"
    " UNION ALL SELECT 'spam_report', email, timestamp FROM spam_report) ";
const char* view_columns =
    "SELECT email, last_delivered_at, delivered_count, last_open_at, open_count, last_click_at, "
    "click_count, last_bounce_at, bounce_count, last_unsubscribe_at, unsubscribe_count, "
    "last_spam_report_at, spam_report_count FROM recipient_activity ";

// event_rows.kind of the per-type view `table`.
int kind_of(const std::string& table) {
  for (auto t : sgs::events::all_event_types) {
    if (sgs::events::table_name(t) == table) return sgs::store::event_rows_kind(t);
  }
  throw std::runtime_error("no event table " + table);
}

TEST(RecipientActivity, EqualsAGroupByOverTheEventRowsForEveryKindWholeAndPerEmail) {
  SQLite::Database db(":memory:", SQLite::OPEN_READWRITE);
  sgs::store::migrate(db);
  // Events of every kind the view reads and of kinds it ignores, over 40 recipients and four
  // ingest segments (as the merger writes them), a few without a timestamp.
  std::mt19937 rng(16);
  std::vector<std::string> tables(activity_tables.begin(), activity_tables.end());
  tables.insert(tables.end(), {"processed", "deferred", "dropped"});
  SQLite::Transaction tx(db);
  for (int i = 0; i < 3000; ++i) {
    const std::string& table = tables[rng() % tables.size()];
    // One row of event_rows (schema/0010) of the kind behind `table`.
    SQLite::Statement insert(
        db,
        "INSERT INTO event_rows (kind, email, body, timestamp, ingest_segment, "
        "received_at_ms) VALUES (?, ?2, json_object('sg_event_id', ?3, "
        "'email', ?2), ?4, ?5, 0)");
    insert.bind(1, kind_of(table));
    insert.bind(3, "e" + std::to_string(i));
    insert.bind(2, "r" + std::to_string(rng() % 40) + "@example.com");
    if (rng() % 25 == 0) {
      insert.bind(4);
    } else {
      insert.bind(4, static_cast<std::int64_t>(1700000000 + rng() % 5000000));
    }
    insert.bind(5, i / 800);
    insert.exec();
  }
  // Only ignored kinds: no row in the view.
  db.exec(
      "INSERT INTO event_rows (kind, email, body, timestamp, received_at_ms) VALUES (1, "
      "'only-processed@example.com', '{\"sg_event_id\":\"p\","
      "\"email\":\"only-processed@example.com\"}', 1700000000, 0)");
  tx.commit();

  const auto expected = rows_of(db, std::string(brute_force) + "GROUP BY email ORDER BY email");
  ASSERT_EQ(expected.size(), 40u);
  EXPECT_EQ(rows_of(db, std::string(view_columns) + "ORDER BY email"), expected);
  for (const std::string email : {"r0@example.com", "r17@example.com", "r39@example.com"}) {
    EXPECT_EQ(rows_of(db, std::string(view_columns) + "WHERE email = ?", email),
              rows_of(db, std::string(brute_force) + "WHERE email = ? GROUP BY email", email))
        << email;
  }
  EXPECT_TRUE(
      rows_of(db, std::string(view_columns) + "WHERE email = ?", "only-processed@example.com")
          .empty());
  EXPECT_TRUE(
      rows_of(db, std::string(view_columns) + "WHERE email = ?", "nobody@example.com").empty());
}

TEST(RecipientActivity, OneEmailIsAnsweredFromTheEmailIndex) {
  SQLite::Database db(":memory:", SQLite::OPEN_READWRITE);
  sgs::store::migrate(db);
  const auto plan = plan_of(db, "SELECT * FROM recipient_activity WHERE email = 'a@example.com'");
  EXPECT_NE(plan.find("SEARCH event_rows USING INDEX event_rows_by_email (ANY(ingest_segment) AND "
                      "email=?)"),
            std::string::npos)
      << plan;
  EXPECT_EQ(plan.find("SCAN event_rows"), std::string::npos) << plan;
}

}  // namespace
