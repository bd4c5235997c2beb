-- 0002_objects: the object tables the sync fills (lists, segments, campaigns, recipients) and sync_runs.
--
-- Why the tables look like this:
--  * `id` is SendGrid's id as text: UUIDs on Marketing Campaigns, integers on Legacy Marketing
--    Campaigns (kept as their decimal text), so one table holds both and `source_api`
--    ('marketing' | 'legacy') says which API the row came from.
--  * Typed columns for the fields SendGrid documents; nested values (arrays, objects) as JSON
--    text (list_ids, segment_ids, categories, custom_fields, ...); `raw` keeps the object as
--    received (for contacts exported as CSV: a JSON object of the non-empty columns).
--  * Rows are never deleted by sync. `deleted_at` is set when a complete sync of the
--    collection no longer sees the row and cleared when the row comes back; a failed or
--    partial run tombstones nothing.
--  * `synced_at` is when the sync last wrote the row: when it first appeared, changed, or came
--    back after a tombstone. An unchanged row is not rewritten (a second sync of a million
--    contacts would otherwise rewrite every page of the table); when each collection was last
--    seen complete is in sync_runs.
--  * No secondary indexes: the tables are written in bulk by the sync and read by ad-hoc
--    queries; each index on a random key costs a page write per row (PERF.md). Add your own
--    if a query needs one; the sync never depends on them.

CREATE TABLE lists (
  id TEXT PRIMARY KEY,
  name TEXT,
  contact_count INTEGER,           -- recipient_count on legacy lists
  source_api TEXT NOT NULL,
  raw TEXT NOT NULL,
  synced_at TEXT NOT NULL,
  deleted_at TEXT
);

CREATE TABLE segments (
  id TEXT PRIMARY KEY,
  name TEXT,
  contacts_count INTEGER,          -- recipient_count on legacy segments
  parent_list_ids TEXT,            -- JSON array; legacy: [list_id] when the segment has one
  query_version TEXT,
  query_validation TEXT,           -- status.query_validation: PENDING | VALID | INVALID
  conditions TEXT,                 -- legacy only: JSON array of {field, value, operator, and_or}
  created_at TEXT,
  updated_at TEXT,
  sample_updated_at TEXT,
  next_sample_update TEXT,
  source_api TEXT NOT NULL,
  raw TEXT NOT NULL,
  synced_at TEXT NOT NULL,
  deleted_at TEXT
);

-- Single Sends (marketing) and legacy campaigns. The Single Sends listing is the condensed
-- form: send_to and email_config are only in the per-item endpoint, which the sync does not
-- call (one request per campaign); legacy campaigns carry them in the listing.
CREATE TABLE campaigns (
  id TEXT PRIMARY KEY,
  name TEXT,                       -- legacy: title
  status TEXT,
  categories TEXT,                 -- JSON array
  send_at TEXT,
  is_abtest INTEGER,
  abtest TEXT,                     -- JSON object or NULL
  subject TEXT,
  sender_id INTEGER,
  list_ids TEXT,                   -- JSON array
  segment_ids TEXT,                -- JSON array
  suppression_group_id INTEGER,
  custom_unsubscribe_url TEXT,
  ip_pool TEXT,
  editor TEXT,
  created_at TEXT,
  updated_at TEXT,
  source_api TEXT NOT NULL,
  raw TEXT NOT NULL,
  synced_at TEXT NOT NULL,
  deleted_at TEXT
);

-- Contacts. Marketing: from the contact export (CSV columns by header name; columns that are
-- not documented fields, i.e. custom fields, go into custom_fields as a JSON object of
-- strings). Legacy: /v3/contactdb/recipients, times as unix seconds in text.
CREATE TABLE recipients (
  id TEXT PRIMARY KEY,
  email TEXT,
  first_name TEXT,
  last_name TEXT,
  unique_name TEXT,
  phone_number_id TEXT,
  external_id TEXT,
  anonymous_id TEXT,
  alternate_emails TEXT,           -- JSON array
  address_line_1 TEXT,
  address_line_2 TEXT,
  city TEXT,
  state_province_region TEXT,
  country TEXT,
  postal_code TEXT,
  phone_number TEXT,
  whatsapp TEXT,
  line TEXT,
  facebook TEXT,
  list_ids TEXT,                   -- JSON array
  segment_ids TEXT,                -- JSON array
  custom_fields TEXT,              -- JSON object: name -> value
  created_at TEXT,
  updated_at TEXT,
  last_clicked TEXT,               -- legacy only
  last_emailed TEXT,               -- legacy only
  last_opened TEXT,                -- legacy only
  source_api TEXT NOT NULL,
  raw TEXT NOT NULL,
  synced_at TEXT NOT NULL,
  deleted_at TEXT
);

-- One row per collection per sync run of this file's source. A run that was interrupted
-- (crash, kill -9) keeps status 'running' with no finished_at.
CREATE TABLE sync_runs (
  id INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL,            -- the same for every collection of one run of the source
  source TEXT NOT NULL,
  collection TEXT NOT NULL,        -- lists | segments | campaigns | recipients
  source_api TEXT,                 -- marketing | legacy, once known
  started_at TEXT NOT NULL,
  finished_at TEXT,
  status TEXT NOT NULL,            -- running | succeeded | failed | stopped | skipped
  pages INTEGER NOT NULL DEFAULT 0,           -- API pages or export files read
  rows_seen INTEGER NOT NULL DEFAULT 0,       -- objects received
  rows_upserted INTEGER NOT NULL DEFAULT 0,   -- rows inserted, changed or revived
  rows_tombstoned INTEGER NOT NULL DEFAULT 0,
  http_retries INTEGER NOT NULL DEFAULT 0,
  rate_limit_waits INTEGER NOT NULL DEFAULT 0,
  error TEXT
);
CREATE INDEX sync_runs_by_collection ON sync_runs (collection, started_at);
