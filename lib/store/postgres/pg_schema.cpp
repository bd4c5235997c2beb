// DDL of a source's PostgreSQL schema, generated from the column tables; migrations under an
// advisory lock; monthly partitions and retention.
#include "store/postgres/pg_schema.hpp"

#include <algorithm>
#include <array>
#include <ctime>

#include "events/event.hpp"
#include "store/account_tables.hpp"
#include "store/event_columns.hpp"
#include "store/postgres/pg_connection.hpp"

namespace sgs::store::pg {

namespace {

// Event columns holding JSON text: jsonb, so that users query them with ->, ->> and @>.
bool is_json_event_column(std::string_view name) {
  return name == "category" || name == "custom_args" || name == "raw" || name == "newsletter";
}

std::string event_column_ddl(const event_column& c) {
  std::string type;
  if (std::holds_alternative<received_at_column>(c.field)) {
    type = "timestamptz";
  } else if (is_json_event_column(c.name)) {
    type = "jsonb";
  } else {
    type = c.type == column_type::integer ? "bigint" : "text";
  }
  std::string out = std::string(c.name) + " " + type;
  if (c.name == "category") out += " NOT NULL DEFAULT '[]'";
  if (c.name == "custom_args") out += " NOT NULL DEFAULT '{}'";
  if (c.name == "raw" || c.name == "received_at") out += " NOT NULL";
  // SQLite's index segments (schema/0006); always 0 here, where partitions do that job.
  if (std::holds_alternative<segment_column>(c.field)) out += " NOT NULL DEFAULT 0";
  return out;
}

std::string event_table_ddl(std::string_view table, bool with_event_name) {
  std::string out = "CREATE TABLE " + std::string(table) + " (\n";
  if (with_event_name) out += "  event text NOT NULL,\n";
  for (std::size_t i = 0; i < event_columns.size(); ++i) {
    out +=
        "  " + event_column_ddl(event_columns[i]) + (i + 1 < event_columns.size() ? ",\n" : "\n");
  }
  out += ") PARTITION BY RANGE (received_at);\n";
  // Rows outside every monthly partition (a clock far off) still have somewhere to go.
  out += "CREATE TABLE " + std::string(table) + "_default PARTITION OF " + std::string(table) +
         " DEFAULT;\n";
  // Indexes on the parent are created on every partition, now and later.
  for (const auto& [suffix, column] : std::array<std::pair<std::string_view, std::string_view>, 4>{
           {{"by_email", "email"},
            {"by_message", "sg_message_id"},
            {"by_time", "timestamp"},
            {"by_arrival", "received_at"}}}) {
    out += "CREATE INDEX " + std::string(table) + "_" + std::string(suffix) + " ON " +
           std::string(table) + " (" + std::string(column) + ");\n";
  }
  return out;
}

// Events per UTC day (of the event's own timestamp) and type, as the SQLite store's view: a
// row for each day and type that has events, each count an index range count on `timestamp`.
// The counts are LATERAL subqueries over a series of days, so PostgreSQL computes them only for
// the days a `WHERE day` keeps (a month: 30 days x 13 tables of index-only counts) and once per
// row (the `events > 0` filter reads the lateral's output); a GROUP BY over activity would read
// every row of every table whatever the filter.
std::string daily_counts_view() {
  std::string span;
  for (auto t : events::all_event_types) {
    span += std::string(span.empty() ? "" : " UNION ALL ") +
            "SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM " +
            std::string(events::table_name(t));
  }
  std::string sql =
      "CREATE OR REPLACE VIEW daily_counts AS\nWITH days AS (\n  SELECT d FROM (SELECT min(lo) / "
      "86400 AS "
      "lo, max(hi) / 86400 AS hi FROM (" +
      span + ") s) span, generate_series(span.lo, span.hi) AS d)\n";
  const std::string range = "timestamp >= d * 86400 AND timestamp < d * 86400 + 86400";
  bool first = true;
  for (auto t : events::all_event_types) {
    const std::string table(events::table_name(t));
    sql += first ? "  " : "UNION ALL\n  ";
    first = false;
    if (t == events::event_type::other) {
      sql +=
          "SELECT sgs_day(d * 86400) AS day, o.event AS event, c.events\n  FROM days, (SELECT "
          "DISTINCT event FROM other_events) o, LATERAL (SELECT count(*) AS events FROM " +
          table + " WHERE event = o.event AND " + range + ") c WHERE c.events > 0\n";
    } else {
      sql += "SELECT sgs_day(d * 86400) AS day, '" + std::string(events::wire_name(t)) +
             "'::text AS event, c.events FROM days, LATERAL (SELECT count(*) AS events FROM " +
             table + " WHERE " + range + ") c WHERE c.events > 0\n";
    }
  }
  return sql + ";\n";
}

std::string events_migration() {
  std::string sql =
      R"(-- 1: the Event Webhook tables, the key table that makes storing exactly-once, the views.
-- ISO-8601 UTC text as the SQLite store writes it (what status and the sync compare).
CREATE FUNCTION sgs_iso(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;
-- The day (UTC) of a unix time, as daily_counts shows it.
CREATE FUNCTION sgs_day(t bigint) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT to_char(to_timestamp(t) AT TIME ZONE 'UTC', 'YYYY-MM-DD') $$;
)";
  for (auto t : events::all_event_types) {
    sql += event_table_ddl(events::table_name(t), t == events::event_type::other);
  }
  sql += R"(CREATE TABLE rejected_events (
  reason text NOT NULL,
  raw text NOT NULL,
  received_at timestamptz NOT NULL
) PARTITION BY RANGE (received_at);
CREATE TABLE rejected_events_default PARTITION OF rejected_events DEFAULT;
CREATE INDEX rejected_events_by_arrival ON rejected_events (received_at);
-- Exactly-once across every receiver: one row per sg_event_id hash and per content
-- fingerprint (128-bit keys as uuid), inserted with ON CONFLICT DO NOTHING in the transaction
-- that stores the events; a concurrent insert of the same key waits for the other
-- transaction and then conflicts. Rows older than the dedup window are deleted (BRIN: the
-- table is appended in time order, so the index stays tiny).
CREATE TABLE event_keys (
  k uuid PRIMARY KEY,
  seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_keys_by_time ON event_keys USING brin (seen_at);
)";
  // activity: every event table with `event` as SendGrid names it.
  sql += "CREATE VIEW activity AS\n";
  std::string common;
  for (const auto& c : event_columns) {
    if (c.name == "received_at" || c.name == "raw") continue;
    if (std::holds_alternative<segment_column>(c.field)) continue;  // not in SQLite's either
    common += std::string(c.name) + ", ";
  }
  common += "received_at, raw";
  bool first = true;
  for (auto t : events::all_event_types) {
    if (!first) sql += "UNION ALL\n";
    first = false;
    const std::string table(events::table_name(t));
    const std::string event = t == events::event_type::other
                                  ? std::string("event")
                                  : "'" + std::string(events::wire_name(t)) + "'::text AS event";
    sql += "  SELECT " + event + ", '" + table + "'::text AS source_table, " + common + " FROM " +
           table + "\n";
  }
  sql += ";\n";
  sql += daily_counts_view();
  return sql;
}

std::string object_table_ddl(collection c) {
  const std::string table(collection_name(c));
  std::string out = "CREATE TABLE " + table + " (\n";
  for (auto col : columns(c)) {
    out += "  " + std::string(col) + " " + std::string(object_column_type(c, col));
    if (col == "id") out += " PRIMARY KEY";
    if (col == "raw") out += " NOT NULL";
    out += ",\n";
  }
  out +=
      "  source_api text NOT NULL,\n  synced_at timestamptz NOT NULL,\n  deleted_at "
      "timestamptz\n);\n";
  return out;
}

// The recipient_activity views of the SQLite store (0005, 0009), generated from one table: per
// email and kind of activity, the last time and the count; group unsubscribes count as
// unsubscribes in the one-row-per-email pivot. The same columns as SQLite's; the pivot stays a
// GROUP BY here, as PostgreSQL pushes `WHERE email = ?` through it into every arm (SQLite 3.40
// does not, hence its window pivot in 0009).
std::string recipient_activity_views() {
  struct kind {
    std::string_view activity, table, pivot;
  };
  constexpr std::array<kind, 7> kinds = {{{"delivered", "delivered", "delivered"},
                                          {"open", "_open", "open"},
                                          {"click", "click", "click"},
                                          {"bounce", "bounce", "bounce"},
                                          {"unsubscribe", "unsubscribe", "unsubscribe"},
                                          {"group_unsubscribe", "group_unsubscribe", "unsubscribe"},
                                          {"spam_report", "spam_report", "spam_report"}}};
  std::string by_kind = "CREATE VIEW recipient_activity_by_kind AS\n";
  std::string arms;
  std::string pivot;
  std::vector<std::string_view> pivots;
  for (const auto& k : kinds) {
    const std::string head = arms.empty() ? "  SELECT " : "  UNION ALL SELECT ";
    by_kind += head + "email, '" + std::string(k.activity) +
               "' AS activity, max(timestamp) AS last_at, count(*) AS events FROM " +
               std::string(k.table) + " GROUP BY email\n";
    arms += head + "'" + std::string(k.pivot) + "' AS kind, email, max(timestamp) AS last_at, " +
            "count(*) AS n FROM " + std::string(k.table) + " GROUP BY email\n";
    if (std::find(pivots.begin(), pivots.end(), k.pivot) != pivots.end()) continue;
    pivots.push_back(k.pivot);
    const std::string p(k.pivot);
    pivot += ",\n  max(CASE WHEN kind = '" + p + "' THEN last_at END) AS last_" + p + "_at" +
             ",\n  sum(CASE WHEN kind = '" + p + "' THEN n ELSE 0 END) AS " + p + "_count";
  }
  return by_kind + ";\nCREATE VIEW recipient_activity AS\nSELECT email" + pivot + "\nFROM (\n" +
         arms + ") k\nGROUP BY email;\n";
}

std::string objects_migration() {
  std::string sql =
      R"(-- 2: the object tables of the sync, sync_runs, sync_state, the stored webhook keys.
-- Casts for staged text: a value that is not what the column holds becomes NULL (integers) or
-- a JSON string (jsonb), never a failed merge.
CREATE FUNCTION sgs_bigint(v text) RETURNS bigint LANGUAGE sql IMMUTABLE
  AS $$ SELECT CASE WHEN v ~ '^-?[0-9]{1,18}$' THEN v::bigint END $$;
CREATE FUNCTION sgs_jsonb(v text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN v::jsonb;
EXCEPTION WHEN others THEN
  RETURN to_jsonb(v);
END $$;
)";
  for (auto c : all_collections) sql += object_table_ddl(c);
  for (auto c : account_collections) sql += object_table_ddl(c);
  sql += R"(CREATE TABLE sync_runs (
  id bigserial PRIMARY KEY,
  run_id text NOT NULL,
  source text NOT NULL,
  collection text NOT NULL,
  source_api text,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  status text NOT NULL,
  pages bigint NOT NULL DEFAULT 0,
  rows_seen bigint NOT NULL DEFAULT 0,
  rows_upserted bigint NOT NULL DEFAULT 0,
  rows_tombstoned bigint NOT NULL DEFAULT 0,
  http_retries bigint NOT NULL DEFAULT 0,
  rate_limit_waits bigint NOT NULL DEFAULT 0,
  error text
);
CREATE INDEX sync_runs_by_collection ON sync_runs (collection, started_at);
CREATE TABLE sync_state (
  key text PRIMARY KEY,
  value text NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE TABLE webhook_verification_keys (
  public_key text PRIMARY KEY,
  webhook_id text NOT NULL,
  webhook_url text NOT NULL,
  added_at timestamptz NOT NULL
);
CREATE VIEW list_members AS
SELECT j.value AS list_id, r.id AS contact_id, r.email AS email, r.deleted_at AS deleted_at
FROM recipients r,
     jsonb_array_elements_text(CASE WHEN jsonb_typeof(r.list_ids) = 'array' THEN r.list_ids
                                    ELSE '[]'::jsonb END) j;
)";
  sql += recipient_activity_views();
  return sql;
}

// First day of the month `months` after the month of `t` (UTC), as {year, month}.
std::pair<int, int> month_of(std::chrono::system_clock::time_point t, int months) {
  const std::time_t s = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  int index = (tm.tm_year + 1900) * 12 + tm.tm_mon + months;
  return {index / 12, index % 12 + 1};
}

std::string month_text(std::pair<int, int> ym) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-01", ym.first, ym.second);
  return buf;
}

std::string month_suffix(std::pair<int, int> ym) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "p%04d%02d", ym.first, ym.second);
  return buf;
}

std::pair<int, int> next_month(std::pair<int, int> ym) {
  return ym.second == 12 ? std::pair{ym.first + 1, 1} : std::pair{ym.first, ym.second + 1};
}

// Lookups by sg_message_id are equality lookups: a hash index answers them as well as a
// B-tree and costs less to keep up, since an insertion hashes the text once instead of
// comparing it (with the database's collation) at every level of a tree of random keys.
// Measured (docs/SCALE.md): PostgreSQL's CPU per event 28 -> 25.5 us with both email and
// sg_message_id as hash indexes; but counting one email's events then needs its rows (a hash
// index has no index-only scans) and the 10-million-event lookup went over 10 ms at p99, so
// email keeps its B-tree (recipient_activity groups by it too).
std::string hash_message_index_migration() {
  std::string sql =
      "-- 4: sg_message_id lookups through a hash index (cheaper to keep up than a B-tree).\n";
  for (auto t : events::all_event_types) {
    const std::string table(events::table_name(t));
    sql += "DROP INDEX " + table + "_by_message;\nCREATE INDEX " + table + "_by_message ON " +
           table + " USING hash (sg_message_id);\n";
  }
  return sql;
}

}  // namespace

const std::vector<pg_migration>& migrations() {
  static const std::vector<pg_migration> all = {
      {1, "events", events_migration()},
      {2, "objects", objects_migration()},
      // Version 1's daily_counts listed every day of the span and type, most with 0 events;
      // SQLite's lists the days and types that have events. (Same columns: OR REPLACE works.)
      {3, "daily_counts_rows_with_events",
       "-- 3: daily_counts lists only the days and types with events, as SQLite's.\n" +
           daily_counts_view()},
      {4, "hash_message_index", hash_message_index_migration()},
  };
  return all;
}

int latest_version() { return migrations().back().version; }

std::vector<std::string> partitioned_tables() {
  std::vector<std::string> out;
  for (auto t : events::all_event_types) out.emplace_back(events::table_name(t));
  out.emplace_back("rejected_events");
  return out;
}

std::string_view object_column_type(collection c, std::string_view column) {
  constexpr std::array<std::string_view, 9> json_columns = {
      "parent_list_ids", "conditions",    "categories",       "abtest", "list_ids",
      "segment_ids",     "custom_fields", "alternate_emails", "raw"};
  if (std::find(json_columns.begin(), json_columns.end(), column) != json_columns.end())
    return "jsonb";
  if (is_account_collection(c)) {
    for (const auto& col : account_columns(c)) {
      if (col.name != column) continue;
      if (col.source == column_source::integer) return "bigint";
      if (col.source == column_source::json) return "jsonb";
      if (column == "group_id" || column == "version_count" || column == "reserved")
        return "bigint";
      return "text";
    }
    return "text";
  }
  constexpr std::array<std::string_view, 5> integer_columns = {
      "contact_count", "contacts_count", "is_abtest", "sender_id", "suppression_group_id"};
  if (std::find(integer_columns.begin(), integer_columns.end(), column) != integer_columns.end())
    return "bigint";
  return "text";
}

int schema_version(connection& c, std::string_view schema) {
  auto r =
      c.exec("SELECT to_regclass($1) IS NOT NULL", {quote_ident(schema) + ".schema_migrations"},
             "cannot look for schema_migrations");
  if (r.text(0, 0) != "t") return 0;
  auto v =
      c.exec("SELECT coalesce(max(version), 0) FROM " + quote_ident(schema) + ".schema_migrations",
             "cannot read schema_migrations");
  return static_cast<int>(v.int64(0, 0));
}

int migrate(connection& c, std::string_view schema, int up_to) {
  if (up_to < 0) up_to = latest_version();
  const std::string lock_args =
      std::to_string(migrate_lock_class) + ", hashtext(" + quote_literal(schema) + ")";
  c.exec("SELECT pg_advisory_lock(" + lock_args + ")", "cannot take the migration lock");
  struct unlock {
    connection& c;
    std::string args;
    ~unlock() {
      try {
        if (c.ok()) c.exec("SELECT pg_advisory_unlock(" + args + ")", "cannot unlock");
      } catch (...) {
        // The lock goes with the session anyway.
      }
    }
  } unlock_at_exit{c, lock_args};

  const std::string s = quote_ident(schema);
  c.exec("CREATE SCHEMA IF NOT EXISTS " + s, "cannot create schema " + s);
  c.exec("CREATE TABLE IF NOT EXISTS " + s +
             ".schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
             "applied_at timestamptz NOT NULL DEFAULT now())",
         "cannot create schema_migrations in " + s);
  const int at = schema_version(c, schema);
  if (at > latest_version()) {
    throw pg_error("schema " + s + " is at version " + std::to_string(at) +
                       ", newer than this sendgrid-source knows (" +
                       std::to_string(latest_version()) + "): upgrade sendgrid-source",
                   "", false);
  }
  for (const auto& m : migrations()) {
    if (m.version <= at || m.version > up_to) continue;
    transaction tx(c);
    // The migration's objects land in the source's schema whatever the session's path was.
    c.exec("SET LOCAL search_path TO " + s + ", public", "cannot set search_path");
    c.exec(m.sql, "cannot apply migration " + std::to_string(m.version) + " (" +
                      std::string(m.name) + ") to schema " + s);
    c.exec("INSERT INTO " + s + ".schema_migrations (version, name) VALUES ($1, $2)",
           {std::to_string(m.version), m.name}, "cannot record migration");
    tx.commit();
  }
  return std::max(at, up_to);
}

partition_upkeep maintain_partitions(connection& c, std::string_view schema,
                                     std::chrono::system_clock::time_point now, int months_ahead,
                                     std::optional<int> retention_days) {
  const std::string s = quote_ident(schema);
  partition_upkeep out;
  transaction tx(c);
  c.exec("SELECT pg_advisory_xact_lock(" + std::to_string(migrate_lock_class) + ", hashtext(" +
             quote_literal(schema) + "))",
         "cannot take the partition lock");
  for (const auto& table : partitioned_tables()) {
    const std::string parent = s + "." + quote_ident(table);
    const std::string fallback = s + "." + quote_ident(table + "_default");
    for (int m = 0; m <= months_ahead; ++m) {
      const auto ym = month_of(now, m);
      const std::string name = s + "." + quote_ident(table + "_" + month_suffix(ym));
      const std::string from = month_text(ym);
      const std::string to = month_text(next_month(ym));
      const std::string bounds = " FOR VALUES FROM ('" + from + "') TO ('" + to + "')";
      if (c.exec("SELECT to_regclass($1) IS NOT NULL", {name}, "cannot look for " + name)
              .text(0, 0) == "t")
        continue;
      // Rows stored while no partition held their month (a receiver's clock far ahead) are in
      // the default partition, and PostgreSQL refuses to create the month's partition over
      // them: they move into it. Writers wait meanwhile, so none can add another such row.
      c.exec("LOCK TABLE " + fallback + " IN EXCLUSIVE MODE", "cannot lock " + fallback);
      const std::string in_month =
          " WHERE received_at >= '" + from + "' AND received_at < '" + to + "'";
      if (c.exec("SELECT EXISTS (SELECT 1 FROM " + fallback + in_month + ")",
                 "cannot look into " + fallback)
              .text(0, 0) != "t") {
        c.exec("CREATE TABLE " + name + " PARTITION OF " + parent + bounds,
               "cannot create partition " + name);
        continue;
      }
      c.exec("CREATE TABLE " + name + " (LIKE " + parent +
                 " INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
             "cannot create partition " + name);
      const auto moved = c.exec("WITH moved AS (DELETE FROM " + fallback + in_month +
                                    " RETURNING *) INSERT INTO " + name + " SELECT * FROM moved",
                                "cannot move rows from " + fallback + " into " + name);
      out.moved_rows += moved.affected();
      c.exec("ALTER TABLE " + parent + " ATTACH PARTITION " + name + bounds,
             "cannot attach partition " + name);
    }
  }
  if (retention_days) {
    // Drop a month once all of it is older than the retention (whole partitions only).
    auto parts = c.exec(
        "SELECT p.relname, pg_get_expr(p.relpartbound, p.oid) FROM pg_inherits i "
        "JOIN pg_class p ON p.oid = i.inhrelid JOIN pg_class t ON t.oid = i.inhparent "
        "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = $1 "
        "AND p.relname ~ '_p[0-9]{6}$'",
        {schema}, "cannot list partitions");
    const auto cutoff = now - std::chrono::hours(24) * *retention_days;
    for (int r = 0; r < parts.rows(); ++r) {
      const std::string name(parts.text(r, 0));
      const int ym = std::stoi(name.substr(name.size() - 6));
      const auto end = next_month({ym / 100, ym % 100});
      std::tm tm{};
      tm.tm_year = end.first - 1900;
      tm.tm_mon = end.second - 1;
      tm.tm_mday = 1;
      const auto end_time = std::chrono::system_clock::from_time_t(timegm(&tm));
      if (end_time <= cutoff) {
        c.exec("DROP TABLE " + s + "." + quote_ident(name), "cannot drop partition " + name);
        ++out.dropped;
      }
    }
  }
  tx.commit();
  return out;
}

}  // namespace sgs::store::pg
