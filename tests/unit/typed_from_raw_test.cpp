// schema/0008 and 0010 on real SQLite files: the typed text columns of the per-type views are
// computed from `body` (or from `normalized` for events where plain json_extract would not give
// what the parser read), `raw` reads back exactly as received whether or not email and
// sg_message_id were taken out of `body`, and a store written before the migrations keeps every
// value.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <future>
#include <random>
#include <variant>

#include "events/parse.hpp"
#include "store/event_columns.hpp"
#include "store/migrations.hpp"
#include "store/sqlite_event_store.hpp"
#include "temp_dir.hpp"

namespace {

using sgs::events::event;
using sgs::store::event_columns;

using sgs::test::temp_dir;

// Each element with whether plain json_extract over it gives the parser's values.
struct sample {
  const char* json;
  bool from_raw;
};
const sample samples[] = {
    {R"({"event":"delivered","email":"a@x.com","sg_event_id":"p1","sg_message_id":"m1.filter0",)"
     R"("smtp-id":"<a@b>","timestamp":1,"category":["c1","c 2"],"userid":"123","n":1.50,)"
     R"("obj":{"k":[1,2]},"ip":"10.0.0.1","tls":1})",
     true},
    {R"j({"event":"open","email":"ü@x.com","category":"cat one","useragent":"Mozilla/5.0 (X11)"})j",
     true},
    {R"({"event":"deferred","email":"f@x.com","from":"s@x.com","smtp-id":"<s>","attempt":"2"})",
     true},
    {R"({"event":"brand_new","email":"o@x.com","category":"z","template_id":"d-1"})", true},
    {R"({"event":"account_status_change","type":"compliance_suspend","sg_event_id":"acs"})", true},
    {R"({"event":"bounce","email":"b@x.com","reason":"550 5.1.1","status":"5.1.1",)"
     R"("type":"bounce","bounce_classification":"Invalid Address","custom":null,"t":true})",
     true},
    // Whitespace inside category and a custom arg: json_extract renders them without it.
    {R"({ "event": "open", "email": "w@x.com", "category": [ "a", "b" ], "x": { "y": 1 } })",
     false},
    // Duplicate keys: the parser keeps the last, json_extract finds the first.
    {R"({"event":"click","email":"first@x.com","email":"second@x.com","url":"https://u"})", false},
    {R"({"event":"click","email":"c@x.com","k":1,"k":2})", false},
    // Escapes: decoded by both, but \u0000 is not, and an escaped key is not found by its path.
    {R"({"event":"bounce","email":"d@x.com","reason":"line\nbreak \"q\" \u00e9 \ud83d\ude00"})",
     false},
    {R"({"event":"delivered","\u0065mail":"esc@x.com","response":"250 ok"})", false},
    {R"({"event":"deferred","email":"nul@x.com","response":"4.2.0 a\u0000b"})", false},
    // The parser trims sg_message_id and merges nested custom args.
    {R"({"event":"processed","email":"t@x.com","sg_message_id":" m2.filter "})", false},
    {R"({"event":"processed","email":"u@x.com","unique_args":{"a":"1"},"b":2})", false},
    {R"({"event":"dropped","email":"v@x.com","custom_args":"flat","reason":"Bounced Address"})",
     false},
};

std::string body_of_samples() {
  std::string body = "[";
  for (const auto& s : samples) {
    if (body.size() > 1) body += ',';
    body += s.json;
  }
  return body + "]";
}

sgs::events::parsed_batch parse(const std::string& body) {
  auto parsed = sgs::events::parse_batch(body);
  if (auto* e = std::get_if<sgs::events::batch_error>(&parsed)) {
    throw std::runtime_error(e->message);
  }
  return std::get<sgs::events::parsed_batch>(std::move(parsed));
}

// `raw` put back together from an event_rows row, as the views do.
std::string raw_of(std::string_view body, std::optional<std::string_view> email,
                   std::optional<std::int64_t> email_at, std::optional<std::string_view> message_id,
                   std::optional<std::int64_t> message_at) {
  std::string out;
  sgs::store::append_raw(out, body, email, email_at, message_id, message_at);
  return out;
}

// The typed text columns the views show (all but raw and received_at).
bool typed_text(const sgs::store::event_column& c) {
  return c.type == sgs::store::column_type::text && c.name != "raw" && c.name != "received_at" &&
         (std::holds_alternative<std::optional<std::string_view> event::*>(c.field) ||
          std::holds_alternative<std::string event::*>(c.field));
}

// A typed text column's value as the parser read it; nullopt for NULL.
std::optional<std::string> typed_value(const event& e, const sgs::store::event_column& c) {
  if (const auto* m = std::get_if<std::optional<std::string_view> event::*>(&c.field)) {
    if (const auto& v = e.**m) return std::string(*v);
    return std::nullopt;
  }
  return e.*std::get<std::string event::*>(c.field);
}

// Every typed text column of the row whose `raw` is the event's in its per-type view; and of
// its event_rows row, whether it has `normalized` and whether values were taken out of `body`.
struct stored_row {
  std::vector<std::optional<std::string>> values;
  bool normalized = false;
  bool taken_out = false;
};
stored_row read_row(SQLite::Database& db, const event& e) {
  std::string sql = "SELECT 0";
  for (const auto& c : event_columns) {
    if (typed_text(c)) sql += ", " + std::string(c.name);
  }
  sql += " FROM " + std::string(sgs::events::table_name(e.kind)) + " WHERE raw = ?";
  SQLite::Statement q(db, sql);
  q.bind(1, std::string(e.raw));
  if (!q.executeStep()) throw std::runtime_error("no row for " + std::string(e.raw));
  stored_row out;
  for (int i = 1; i < q.getColumnCount(); ++i) {
    if (q.getColumn(i).isNull()) {
      out.values.emplace_back();
    } else {
      out.values.emplace_back(q.getColumn(i).getString());
    }
  }
  // The same row found from what event_rows stores, put back together in C++.
  SQLite::Statement rows(db,
                         "SELECT normalized IS NOT NULL, email_at IS NOT NULL OR message_at IS NOT "
                         "NULL, body, email, email_at, sg_message_id, message_at FROM event_rows");
  auto text = [&](int i) {
    return rows.getColumn(i).isNull() ? std::optional<std::string>()
                                      : std::optional<std::string>(rows.getColumn(i).getString());
  };
  auto integer = [&](int i) {
    return rows.getColumn(i).isNull() ? std::optional<std::int64_t>()
                                      : std::optional<std::int64_t>(rows.getColumn(i).getInt64());
  };
  int found = 0;
  while (rows.executeStep()) {
    const auto email = text(3), message = text(5);
    const std::string raw =
        raw_of(rows.getColumn(2).getString(),
               email ? std::optional<std::string_view>(*email) : std::nullopt, integer(4),
               message ? std::optional<std::string_view>(*message) : std::nullopt, integer(6));
    if (raw != e.raw) continue;
    ++found;
    out.normalized = rows.getColumn(0).getInt() != 0;
    out.taken_out = rows.getColumn(1).getInt() != 0;
  }
  if (found != 1) throw std::runtime_error("raw_of found no single row for " + std::string(e.raw));
  return out;
}

// What the columns hold: the parser's values, except that SQLite's JSON functions end a
// string at a \u0000 (README: `raw` keeps the whole of it).
std::vector<std::optional<std::string>> expected_values(const event& e) {
  std::vector<std::optional<std::string>> out;
  for (const auto& c : event_columns) {
    if (!typed_text(c)) continue;
    auto v = typed_value(e, c);
    if (v && c.sqlite_view) v->resize(std::min(v->size(), v->find('\0')));
    out.push_back(v);
  }
  return out;
}

TEST(TypedFromRaw, TheParserSaysWhichEventsPlainJsonExtractReadsExactly) {
  const auto batch = parse(body_of_samples());
  ASSERT_EQ(batch.events.size(), std::size(samples));
  for (std::size_t i = 0; i < batch.events.size(); ++i) {
    EXPECT_EQ(sgs::store::raw_gives_typed_values(batch.events[i]), samples[i].from_raw)
        << samples[i].json;
  }
}

TEST(TypedFromRaw, BodyTakesOutEmailAndMessageIdAndRawOfPutsThemBack) {
  // Multi-byte characters before, between and after the values: offsets count characters.
  const std::string body =
      body_of_samples().substr(0, body_of_samples().size() - 1) +
      R"(,{"event":"click","é":"ü","sg_message_id":"m€.filter","x":"→","email":"z@ü.com","y":"☃"})"
      R"(,{"event":"click","email":"","sg_message_id":"é"})"
      ",{\"event\":\"click\",\"email\":\"a\\u00e9@x.com\",\"sg_message_id\":\"m\"}]";
  const auto batch = parse(body);
  std::string scratch;
  int taken = 0;
  for (const event& e : batch.events) {
    const auto stored = sgs::store::body_of(e, scratch);
    if (stored.email_at || stored.message_at) ++taken;
    if (stored.email_at) {
      EXPECT_EQ(stored.body.find(R"("email":"")"), stored.body.find(R"("email":)")) << e.raw;
    }
    EXPECT_EQ(raw_of(stored.body, e.email, stored.email_at, e.sg_message_id, stored.message_at),
              e.raw);
  }
  // The six plain samples with an email and the first two added; not the escaped one.
  EXPECT_EQ(taken, 7);
  EXPECT_THROW(raw_of("{}", "a", 3, std::nullopt, std::nullopt), std::invalid_argument);
}

TEST(TypedFromRaw, EveryTypedColumnReadsBackWhatTheParserRead) {
  temp_dir t;
  const auto received =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(1765125841123));
  const std::string body = body_of_samples();
  {
    auto store = sgs::store::sqlite_event_store::open({.file = t.file()});
    std::promise<sgs::store::write_result> done;
    auto f = done.get_future();
    store->submit(parse(body), received,
                  [&](const sgs::store::write_result& r) { done.set_value(r); });
    ASSERT_EQ(f.get().stored, std::size(samples));
    store->close();
  }
  SQLite::Database db(t.file().string(), SQLite::OPEN_READONLY);
  const auto batch = parse(body);
  for (std::size_t i = 0; i < batch.events.size(); ++i) {
    const event& e = batch.events[i];
    const stored_row row = read_row(db, e);
    EXPECT_EQ(row.normalized, !samples[i].from_raw) << samples[i].json;
    EXPECT_EQ(row.taken_out, samples[i].from_raw && (e.email || e.sg_message_id))
        << samples[i].json;
    EXPECT_EQ(row.values, expected_values(e)) << samples[i].json;
  }
  EXPECT_EQ(db.execAndGet("SELECT group_concat(DISTINCT received_at) FROM activity").getString(),
            "2025-12-07T16:44:01.123Z");
  // The lookups still find the events by their typed values, from the indexes.
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM click WHERE email = 'second@x.com'").getInt(), 1);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM click WHERE email = 'first@x.com'").getInt(), 0);
  EXPECT_EQ(
      db.execAndGet("SELECT count(*) FROM activity WHERE sg_message_id = 'm2.filter'").getInt(), 1);
  EXPECT_EQ(db.execAndGet("SELECT custom_args FROM processed WHERE email = 'u@x.com'").getString(),
            R"({"a":"1","b":2})");
  EXPECT_EQ(db.execAndGet("SELECT category FROM _open WHERE email = 'ü@x.com'").getString(),
            R"(["cat one"])");
  EXPECT_EQ(db.execAndGet("SELECT response FROM deferred WHERE email = 'nul@x.com'").getString(),
            "4.2.0 a");
}

TEST(TypedFromRaw, AStoreWrittenBeforeTheMigrationKeepsEveryTypedValue) {
  temp_dir t;
  const std::string body = body_of_samples();
  const auto batch = parse(body);
  {
    // A version-7 store whose rows hold their typed values in columns, as 0.x wrote them.
    SQLite::Database db(t.file().string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    sgs::store::migrate(db, {}, 7);
    ASSERT_EQ(db.execAndGet("PRAGMA user_version").getInt(), 7);
    for (const event& e : batch.events) {
      std::string cols = e.kind == sgs::events::event_type::other ? "event, " : "";
      std::string marks = e.kind == sgs::events::event_type::other ? "?, " : "";
      for (const auto& c : event_columns) {
        if (!typed_text(c)) continue;
        cols += std::string(c.name) + ", ";
        marks += "?, ";
      }
      SQLite::Statement insert(db, "INSERT INTO " + std::string(sgs::events::table_name(e.kind)) +
                                       " (" + cols + "raw, received_at) VALUES (" + marks +
                                       "?, '2026-01-01T00:00:00.000Z')");
      int i = 1;
      if (e.kind == sgs::events::event_type::other) insert.bind(i++, std::string(e.event_name));
      for (const auto& c : event_columns) {
        if (!typed_text(c)) continue;
        if (auto v = typed_value(e, c)) {
          insert.bind(i++, *v);
        } else {
          insert.bind(i++);
        }
      }
      insert.bind(i, std::string(e.raw));
      insert.exec();
    }
  }
  std::vector<std::string> steps;
  auto store = sgs::store::sqlite_event_store::open(
      {.file = t.file(), .on_migration_step = [&](const sgs::store::migration_step& s) {
         steps.push_back(std::string(s.migration));
       }});
  store->close();
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.front(), "0008_typed_from_raw");

  SQLite::Database db(t.file().string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), sgs::store::latest_schema_version());
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM activity").getInt(),
            static_cast<int>(std::size(samples)));
  for (std::size_t i = 0; i < batch.events.size(); ++i) {
    const stored_row row = read_row(db, batch.events[i]);
    // The migration compares values, so it keeps `normalized` only where they differ: the
    // parser's "maybe not" is a superset.
    if (samples[i].from_raw) {
      EXPECT_FALSE(row.normalized) << samples[i].json;
    }
    EXPECT_EQ(row.values, expected_values(batch.events[i])) << samples[i].json;
  }
  // received_at reads back as written, from received_at_ms.
  EXPECT_EQ(db.execAndGet("SELECT group_concat(DISTINCT received_at) FROM activity").getString(),
            "2026-01-01T00:00:00.000Z");
  // Rows stored before 0010 keep their whole text in body.
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM event_rows WHERE email_at IS NOT NULL OR "
                          "message_at IS NOT NULL")
                .getInt(),
            0);
  // The planner hints of 0006 are back for the rebuilt indexes.
  EXPECT_EQ(db.execAndGet("SELECT group_concat(tbl || '.' || idx) FROM sqlite_stat1 WHERE idx "
                          "LIKE '%_by_email' OR idx LIKE '%_by_message'")
                .getString(),
            "event_rows.event_rows_by_email,event_rows.event_rows_by_message");
}

sgs::store::write_result submit(sgs::store::sqlite_event_store& store, const std::string& body,
                                std::chrono::system_clock::time_point at) {
  std::promise<sgs::store::write_result> done;
  auto f = done.get_future();
  store.submit(parse(body), at, [&](const sgs::store::write_result& r) { done.set_value(r); });
  return f.get();
}

TEST(OneEventTable, AVersion9StoreKeepsEveryEventAndItsDedupKeysThroughTheMigration) {
  temp_dir t;
  // Every sample (every kind of reshaping, an unknown type) and one event of each type, as the
  // version-9 merger wrote them: typed text computed from raw, `normalized` where needed; a
  // rejected element beside them. Arrived an hour ago, inside the dedup window.
  std::string body = body_of_samples();
  body.pop_back();
  for (auto type : sgs::events::all_event_types) {
    const std::string name(type == sgs::events::event_type::other ? std::string_view("x-new")
                                                                  : sgs::events::wire_name(type));
    body += R"(,{"event":")" + name + R"(","email":"all@x.com","sg_event_id":"id-)" + name +
            R"(","sg_message_id":"m.)" + name + R"(","timestamp":1700000000})";
  }
  body += "]";
  const auto batch = parse(body);
  const auto arrived = std::chrono::system_clock::now() - std::chrono::hours(1);
  const auto arrived_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(arrived.time_since_epoch()).count();
  {
    SQLite::Database db(t.file().string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    sgs::store::migrate(db, {}, 9);
    std::string normalized;
    for (const event& e : batch.events) {
      const bool other = e.kind == sgs::events::event_type::other;
      SQLite::Statement insert(
          db, "INSERT INTO " + std::string(sgs::events::table_name(e.kind)) + " (" +
                  (other ? "event, " : "") +
                  "timestamp, raw, ingest_segment, received_at_ms, normalized) VALUES (" +
                  (other ? "?, " : "") +
                  // Version 9 computed email and sg_message_id too, so kept them in normalized.
                  "?, ?, 0, ?, json_set(?, '$.email', ?, '$.sg_message_id', ?))");
      int i = 1;
      if (other) insert.bind(i++, std::string(e.event_name));
      if (e.timestamp) {
        insert.bind(i++, *e.timestamp);
      } else {
        insert.bind(i++);
      }
      insert.bind(i++, std::string(e.raw));
      insert.bind(i++, static_cast<std::int64_t>(arrived_ms));
      if (sgs::store::raw_gives_typed_values(e)) {
        insert.bind(i++);
      } else {
        sgs::store::write_normalized_values(normalized, e);
        insert.bind(i++, normalized);
      }
      for (const auto& v : {e.email, e.sg_message_id}) {
        if (v) {
          insert.bind(i++, std::string(*v));
        } else {
          insert.bind(i++);
        }
      }
      insert.exec();
    }
    db.exec(
        "INSERT INTO rejected_events (reason, raw, received_at) VALUES ('bad', '7', "
        "'2026-01-01T00:00:00.000Z')");
  }
  {
    auto store = sgs::store::sqlite_event_store::open({.file = t.file()});
    // The same body again: every event is known from the migrated rows.
    const auto again = submit(*store, body, std::chrono::system_clock::now());
    EXPECT_EQ(again.stored, 0u);
    EXPECT_EQ(again.duplicates, batch.events.size());
    store->close();
  }
  SQLite::Database db(t.file().string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), sgs::store::latest_schema_version());
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM activity").getInt(),
            static_cast<int>(batch.events.size()));
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM rejected_events").getInt(), 1);
  for (auto type : sgs::events::all_event_types) {
    const std::string table(sgs::events::table_name(type));
    EXPECT_EQ(
        db.execAndGet("SELECT count(*) FROM " + table + " WHERE email = 'all@x.com'").getInt(), 1)
        << table;
  }
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM other_events WHERE event = 'x-new'").getInt(), 1);
  for (const event& e : batch.events) {
    const stored_row row = read_row(db, e);  // found by its exact raw
    EXPECT_FALSE(row.taken_out) << e.raw;    // migrated rows keep their whole text
    EXPECT_EQ(row.values, expected_values(e)) << e.raw;
  }
  // In arrival order, the per-day counts of every row.
  EXPECT_EQ(db.execAndGet("SELECT sum(events) FROM daily_counts").getInt(),
            db.execAndGet("SELECT count(*) FROM activity WHERE timestamp IS NOT NULL").getInt());
}

}  // namespace
