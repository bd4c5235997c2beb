// The PostgreSQL store's pure text helpers: URL redaction, COPY escaping, identifier quoting,
// and the generated schema (columns from the shared column tables, not hand-listed).
#include <gtest/gtest.h>

#include "store/event_columns.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/postgres/pg_schema.hpp"

namespace pg = sgs::store::pg;

TEST(PgText, RedactHidesThePasswordOfAUriAndOfAConninfo) {
  EXPECT_EQ(pg::redact("postgresql://sgs:s3cret@db:5432/w?sslmode=require"),
            "postgresql://sgs:***@db:5432/w?sslmode=require");
  EXPECT_EQ(pg::redact("postgresql://sgs@db/w?password=s3cret&sslmode=require"),
            "postgresql://sgs@db/w?password=***&sslmode=require");
  EXPECT_EQ(pg::redact("host=db password=s3cret dbname=w"), "host=db password=*** dbname=w");
  EXPECT_EQ(pg::redact("postgresql://sgs@db/w"), "postgresql://sgs@db/w");
}

TEST(PgText, CopyTextEscapesWhatTheCopyFormatReserves) {
  std::string out;
  pg::copy_text(out, "a\tb\nc\\d\re");
  EXPECT_EQ(out, "a\\tb\\nc\\\\d\\re");
  out.clear();
  pg::copy_null(out);
  EXPECT_EQ(out, "\\N");
}

TEST(PgText, IdentifiersAndLiteralsAreQuoted) {
  EXPECT_EQ(pg::quote_ident("2024_marketing"), "\"2024_marketing\"");
  EXPECT_EQ(pg::quote_ident("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(pg::quote_literal("o'brien"), "'o''brien'");
}

TEST(PgSchema, EventTablesHaveEveryColumnOfTheColumnTableWithPostgresTypes) {
  const auto& events = pg::migrations().at(0).sql;
  for (const auto& c : sgs::store::event_columns) {
    EXPECT_NE(events.find("  " + std::string(c.name) + " "), std::string::npos) << c.name;
  }
  EXPECT_NE(events.find("raw jsonb NOT NULL"), std::string::npos);
  EXPECT_NE(events.find("received_at timestamptz NOT NULL"), std::string::npos);
  EXPECT_NE(events.find("timestamp bigint"), std::string::npos);
  EXPECT_NE(events.find("PARTITION BY RANGE (received_at)"), std::string::npos);
  EXPECT_EQ(pg::object_column_type(sgs::store::collection::recipients, "list_ids"), "jsonb");
  EXPECT_EQ(pg::object_column_type(sgs::store::collection::lists, "contact_count"), "bigint");
  EXPECT_EQ(pg::object_column_type(sgs::store::collection::bounces, "created"), "bigint");
  EXPECT_EQ(pg::latest_version(), static_cast<int>(pg::migrations().size()));
}
