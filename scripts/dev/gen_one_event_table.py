#!/usr/bin/env python3
"""Writes schema/0010_one_event_table.sql (run from the repository root; the output is checked in).

Every event is one row of `event_rows`; the per-type tables users query (processed, delivered,
..., other_events) and `activity` become views over it. See the header of the generated file.
The column list comes from gen_typed_from_raw.py; lib/store/event_columns.hpp must agree (the
unit tests compare the views with it and every value with the parser's).
"""
import gen_typed_from_raw as g

TABLES = g.TABLES  # kind = position + 1: processed 1 ... account_status_change 12, other_events 13
KIND = {t: i + 1 for i, t in enumerate(TABLES)}
EVENT_OF = {"_open": "open", "spam_report": "spamreport"}


def event_name(t):
    return EVENT_OF.get(t, t)


# Stored in event_rows besides kind/event/email/sg_message_id/body: the small columns.
SMALL = [(c, ty) for c, ty, k in g.COLUMNS
         if k is None and c not in ("timestamp", "raw", "ingest_segment")]

# `raw` exactly as received: `body` with the email and sg_message_id values put back where the
# writer took them out (email_at/message_at: characters before the value; NULL: not taken out).
RAW = ("CASE WHEN email_at IS NULL AND message_at IS NULL THEN body"
       " WHEN message_at IS NULL THEN substr(body, 1, email_at) || email || substr(body, email_at + 1)"
       " WHEN email_at IS NULL THEN substr(body, 1, message_at) || sg_message_id"
       " || substr(body, message_at + 1)"
       " WHEN email_at < message_at THEN substr(body, 1, email_at) || email"
       " || substr(body, email_at + 1, message_at - email_at) || sg_message_id"
       " || substr(body, message_at + 1)"
       " ELSE substr(body, 1, message_at) || sg_message_id"
       " || substr(body, message_at + 1, email_at - message_at) || email"
       " || substr(body, email_at + 1) END")

EVENT_CASE = ("CASE kind " + " ".join(f"WHEN {KIND[t]} THEN '{event_name(t)}'"
                                      for t in TABLES if t != "other_events") + " ELSE event END")
TABLE_CASE = "CASE kind " + " ".join(f"WHEN {KIND[t]} THEN '{t}'" for t in TABLES) + " END"


def view_column(col, key):
    if col == "raw":
        return f"{RAW} AS raw"
    if col in ("email", "sg_message_id") or key is None:
        return col
    if col == "received_at":
        return f"{g.RECEIVED_AT} AS received_at"
    expr = g.generated(col, key).replace("(raw,", "(body,")
    return f"{expr} AS {col}"


VIEW_COLUMNS = ",\n  ".join(view_column(c, k) for c, _, k in g.COLUMNS)
# 0001's order: raw last.
ACTIVITY_COLUMNS = ",\n  ".join(
    [view_column(c, k) for c, _, k in g.COLUMNS if c not in ("ingest_segment", "raw")] +
    [view_column("raw", None)])

HEADER = open("scripts/dev/one_event_table_header.sql").read()


def table_view(t):
    first = "event,\n  " if t == "other_events" else ""
    return (f"CREATE VIEW {t} AS SELECT\n  {first}{VIEW_COLUMNS}\nFROM event_rows "
            f"WHERE kind = {KIND[t]};\n")


def old_rows(t):
    small = ", ".join(c for c, _ in SMALL)
    event = "event" if t == "other_events" else "NULL"
    return (f"SELECT {KIND[t]} AS kind, {event} AS event, rowid AS old_rowid, timestamp, email, "
            f"sg_message_id, {small}, raw, ingest_segment, received_at_ms, normalized FROM {t}")


def copy_rows():
    small = ", ".join(c for c, _ in SMALL)
    arms = "\n  UNION ALL ".join(old_rows(t) for t in TABLES)
    # Rows stored before this migration keep their whole text in body (email_at and
    # message_at NULL): finding the values' places exactly needs the parser, and the
    # check in SQL cost 0.2 ms per row.
    return f"""INSERT INTO event_rows (kind, event, timestamp, email, sg_message_id, {small},
    body, ingest_segment, received_at_ms, normalized)
SELECT kind, event, timestamp, email, sg_message_id, {small},
    raw, ingest_segment, received_at_ms, normalized
FROM (
  {arms}
)
ORDER BY received_at_ms, kind, old_rowid;
"""


def main():
    small_cols = "".join(f"  {c} {ty},\n" for c, ty in SMALL)
    out = [HEADER, "\n"]
    out.append("DROP VIEW IF EXISTS recipient_activity;\nDROP VIEW IF EXISTS recipient_activity_by_kind;\n"
               "DROP VIEW IF EXISTS activity;\nDROP VIEW IF EXISTS daily_counts;\n\n")
    out.append("CREATE TABLE event_rows (\n"
               "  kind INTEGER NOT NULL,\n"
               "  event TEXT,\n"
               "  timestamp INTEGER,\n"
               "  email TEXT,\n"
               "  sg_message_id TEXT,\n"
               f"{small_cols}"
               "  body TEXT NOT NULL,\n"
               "  email_at INTEGER,\n"
               "  message_at INTEGER,\n"
               "  ingest_segment INTEGER NOT NULL DEFAULT 0,\n"
               "  received_at_ms INTEGER NOT NULL,\n"
               "  normalized TEXT\n);\n\n")
    out.append(copy_rows())
    out.append("\n")
    for t in TABLES:
        out.append(f"DROP TABLE {t};\n")
    out.append("\nCREATE INDEX event_rows_by_email ON event_rows(ingest_segment, email);\n"
               "CREATE INDEX event_rows_by_message ON event_rows(ingest_segment, sg_message_id);\n"
               "CREATE INDEX event_rows_by_time ON event_rows(timestamp, kind, event);\n\n")
    for t in TABLES:
        out.append(f"-- {t}\n" + table_view(t) + "\n")
    out.append("-- Every event of every type, with `event` as SendGrid names it.\n"
               f"CREATE VIEW activity AS SELECT\n  {EVENT_CASE} AS event,\n  {TABLE_CASE} AS source_table,\n"
               f"  {ACTIVITY_COLUMNS}\nFROM event_rows;\n\n")
    out.append("-- Kept by the merger from here on (lib/store/daily_counts.hpp): the counts of the rows up\n"
               "-- to a rowid as a constant, the rows after it counted on demand.\n"
               "CREATE VIEW daily_counts AS\n"
               "SELECT day, event, sum(events) AS events FROM (\n"
               "  SELECT json_extract(value, '$[0]') AS day, json_extract(value, '$[1]') AS event,\n"
               "         json_extract(value, '$[2]') AS events\n"
               "  FROM json_each('{\"through\":0,\"counts\":[]}', '$.counts')\n"
               f"  UNION ALL SELECT date(timestamp, 'unixepoch'), {EVENT_CASE}, count(*) FROM event_rows\n"
               "    WHERE rowid > 0 AND timestamp IS NOT NULL GROUP BY 1, 2\n"
               ") GROUP BY day, event;\n\n")
    kinds = {"delivered": "delivered", "open": "_open", "click": "click", "bounce": "bounce",
             "unsubscribe": "unsubscribe", "group_unsubscribe": "group_unsubscribe",
             "spam_report": "spam_report"}
    activity_case = ("CASE kind " + " ".join(f"WHEN {KIND[t]} THEN '{a}'" for a, t in kinds.items())
                     + " END")
    out.append("-- One row per email and kind of activity (0005's columns), and the pivot of it.\n"
               "CREATE VIEW recipient_activity_by_kind AS\n"
               f"SELECT email, {activity_case} AS activity, max(timestamp) AS last_at,\n"
               "       count(*) AS events\n"
               f"FROM event_rows WHERE kind IN ({', '.join(str(KIND[t]) for t in kinds.values())})\n"
               "GROUP BY email, kind;\n\n")

    def pivot(name, ks):
        cond = f"kind = {ks[0]}" if len(ks) == 1 else f"kind IN ({', '.join(map(str, ks))})"
        return (f"  max(timestamp) FILTER (WHERE {cond}) AS last_{name}_at,\n"
                f"  count(*) FILTER (WHERE {cond}) AS {name}_count")
    groups = [("delivered", [KIND["delivered"]]), ("open", [KIND["_open"]]),
              ("click", [KIND["click"]]), ("bounce", [KIND["bounce"]]),
              ("unsubscribe", [KIND["unsubscribe"], KIND["group_unsubscribe"]]),
              ("spam_report", [KIND["spam_report"]])]
    out.append("CREATE VIEW recipient_activity AS\nSELECT email,\n" +
               ",\n".join(pivot(n, ks) for n, ks in groups) +
               f"\nFROM event_rows WHERE kind IN ({', '.join(str(KIND[t]) for t in kinds.values())})\n"
               "GROUP BY email;\n\n")
    out.append("-- The planner hints of 0006 for the new indexes (dropped with the tables).\n"
               "ANALYZE sqlite_schema;\n"
               "DELETE FROM sqlite_stat1 WHERE tbl = 'event_rows';\n"
               "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES\n"
               "  ('event_rows', 'event_rows_by_email', '1000000 500000 2'),\n"
               "  ('event_rows', 'event_rows_by_message', '1000000 500000 2');\n"
               "ANALYZE sqlite_schema;\n")
    open("schema/0010_one_event_table.sql", "w").write("".join(out))


if __name__ == "__main__":
    main()
