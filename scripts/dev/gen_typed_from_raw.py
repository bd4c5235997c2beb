#!/usr/bin/env python3
"""Writes schema/0008_typed_from_raw.sql (run from the repository root; the output is checked in).

The event tables' text columns become VIRTUAL generated columns read from `raw` (or from
`normalized` for the few events whose typed values are not what plain json_extract gives);
see the header of the generated file. One place lists the columns: keep it equal to
lib/store/event_columns.hpp (a unit test checks the tables against it).
"""
TABLES = ["processed", "dropped", "delivered", "deferred", "bounce", "_open", "click",
          "spam_report", "unsubscribe", "group_unsubscribe", "group_resubscribe",
          "account_status_change", "other_events"]

# (column, SQL type, JSON key on the wire or None when the column stays stored)
COLUMNS = [
    ("sg_event_id", "TEXT", "sg_event_id"), ("sg_message_id", "TEXT", "sg_message_id"),
    ("email", "TEXT", "email"), ("timestamp", "INTEGER", None), ("smtp_id", "TEXT", "smtp-id"),
    ("category", "TEXT", "category"), ("asm_group_id", "INTEGER", None),
    ("reason", "TEXT", "reason"), ("status", "TEXT", "status"), ("response", "TEXT", "response"),
    ("attempt", "INTEGER", None), ("type", "TEXT", "type"),
    ("bounce_classification", "TEXT", "bounce_classification"), ("url", "TEXT", "url"),
    ("url_offset_index", "INTEGER", None), ("url_offset_type", "TEXT", None),
    ("useragent", "TEXT", "useragent"), ("ip", "TEXT", "ip"), ("tls", "INTEGER", None),
    ("cert_err", "INTEGER", None), ("sg_machine_open", "INTEGER", None),
    ("sg_content_type", "TEXT", "sg_content_type"), ("pool_name", "TEXT", None),
    ("pool_id", "INTEGER", None), ("marketing_campaign_id", "INTEGER", None),
    ("marketing_campaign_name", "TEXT", "marketing_campaign_name"),
    ("marketing_campaign_version", "TEXT", "marketing_campaign_version"),
    ("marketing_campaign_split_id", "INTEGER", None), ("post_type", "TEXT", "post_type"),
    ("sg_user_id", "INTEGER", None), ("singlesend_id", "TEXT", "singlesend_id"),
    ("singlesend_name", "TEXT", "singlesend_name"), ("mc_stats", "TEXT", "mc_stats"),
    ("phase_id", "TEXT", "phase_id"), ("send_at", "INTEGER", None),
    ("template_id", "TEXT", "template_id"), ("template_version_id", "TEXT", "template_version_id"),
    ("template_hash", "TEXT", "template_hash"), ("sg_template_id", "TEXT", "sg_template_id"),
    ("sg_template_name", "TEXT", "sg_template_name"), ("domain", "TEXT", "domain"),
    ("from_address", "TEXT", "from"), ("newsletter", "TEXT", None),
    ("custom_args", "TEXT", "custom_args"), ("raw", "TEXT", None),
    ("received_at", "TEXT", "received_at"), ("ingest_segment", "INTEGER", None),
]
# Every top-level key SendGrid defines (lib/events/event_fields.hpp wire_fields): what is left
# of an event without them is its custom args.
WIRE_KEYS = ["event", "email", "timestamp", "smtp-id", "sg_event_id", "sg_message_id",
             "category", "asm_group_id", "reason", "status", "response", "attempt", "type",
             "bounce_classification", "url", "url_offset", "useragent", "ip", "tls", "cert_err",
             "sg_machine_open", "sg_content_type", "pool", "marketing_campaign_id",
             "marketing_campaign_name", "marketing_campaign_version",
             "marketing_campaign_split_id", "post_type", "sg_user_id", "singlesend_id",
             "singlesend_name", "mc_stats", "phase_id", "send_at", "template_id",
             "template_version_id", "template_hash", "sg_template_id", "sg_template_name",
             "domain", "from", "newsletter", "unique_args", "custom_args"]


def path(key):
    return f"'$.\"{key}\"'" if "-" in key else f"'$.{key}'"


def from_raw(col, key):
    if col == "category":
        return ("CASE json_type(raw, '$.category') WHEN 'array' THEN json_extract(raw, '$.category')"
                " WHEN 'text' THEN json_array(json_extract(raw, '$.category')) ELSE '[]' END")
    if col == "custom_args":
        return "json_remove(raw, " + ", ".join(path(k) for k in WIRE_KEYS) + ")"
    return f"json_extract(raw, {path(key)})"


RECEIVED_AT = ("strftime('%Y-%m-%dT%H:%M:%S', received_at_ms / 1000, 'unixepoch') || "
               "printf('.%03dZ', received_at_ms % 1000)")


def generated(col, key):
    if col == "received_at":
        return RECEIVED_AT
    return (f"CASE WHEN normalized IS NULL THEN {from_raw(col, key)} "
            f"ELSE json_extract(normalized, '$.{col}') END")


def create_table(name):
    lines = []
    if name == "other_events":
        lines.append("  event TEXT NOT NULL")
    for col, typ, key in COLUMNS:
        not_null = " NOT NULL" if col in ("category", "custom_args", "raw", "received_at",
                                          "ingest_segment") else ""
        if key is None:
            default = " DEFAULT 0" if col == "ingest_segment" else ""
            lines.append(f"  {col} {typ}{not_null}{default}")
        else:
            # No NOT NULL here (the expressions never give NULL): SQLite would compute every
            # constrained virtual column on each INSERT, json_remove included.
            lines.append(f"  {col} {typ} AS ({generated(col, key)}) VIRTUAL")
    lines.append("  received_at_ms INTEGER NOT NULL")
    lines.append("  normalized TEXT")
    return f"CREATE TABLE {name}_0008 (\n" + ",\n".join(lines) + "\n);\n"


def copy_rows(name):
    stored = (["event"] if name == "other_events" else []) + [c for c, _, k in COLUMNS if k is None]
    virtual = [(c, k) for c, _, k in COLUMNS if k is not None and c != "received_at"]
    same = "\n      AND ".join(f"{c} IS {from_raw(c, k)}" for c, k in virtual)
    obj = ", ".join(f"'{c}', {c}" for c, _ in virtual)
    cols = ", ".join(stored)
    return (f"INSERT INTO {name}_0008 (rowid, {cols}, received_at_ms, normalized)\n"
            f"  SELECT rowid, {cols},\n"
            f"    coalesce(unixepoch(received_at) * 1000 + CAST(substr(received_at, 21, 3) AS INTEGER), 0),\n"
            f"    CASE WHEN {same}\n    THEN NULL ELSE json_object({obj}) END\n"
            f"  FROM {name};\n"
            f"DROP TABLE {name};\n"
            f"ALTER TABLE {name}_0008 RENAME TO {name};\n"
            f"CREATE INDEX {name}_by_email ON {name}(ingest_segment, email);\n"
            f"CREATE INDEX {name}_by_message ON {name}(ingest_segment, sg_message_id);\n"
            f"CREATE INDEX {name}_by_time ON {name}(timestamp);\n")


def main():
    HEADER = open("scripts/dev/typed_from_raw_header.sql").read()
    out = [HEADER, "PRAGMA legacy_alter_table = ON;\n"]
    for t in TABLES:
        out.append(f"\n-- {t}\n")
        out.append(create_table(t))
        out.append(copy_rows(t))
    out.append("\nPRAGMA legacy_alter_table = OFF;\n")
    stats = ",\n".join(f"  ('{t}', '{t}_by_{k}', '1000000 500000 2')" for t in TABLES
                       for k in ("email", "message"))
    out.append("\n-- DROP TABLE took the tables' sqlite_stat1 rows with it: the same planner hints as "
               "0006.\nANALYZE sqlite_schema;\nDELETE FROM sqlite_stat1 WHERE idx LIKE '%\\_by\\_email' "
               "ESCAPE '\\' OR idx LIKE '%\\_by\\_message' ESCAPE '\\';\n"
               f"INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES\n{stats};\nANALYZE sqlite_schema;\n")
    open("schema/0008_typed_from_raw.sql", "w").write("".join(out))


if __name__ == "__main__":
    main()
