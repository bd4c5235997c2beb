-- 0006_index_segments: email and sg_message_id lookups stay fast to maintain as the store grows.
--
-- Why: an index on a random key (email, sg_message_id) takes each new row at a random place.
-- Once such an index outgrows the page cache, every row dirties a page of its own, and every
-- dirty page is written to the WAL and again by the checkpoint: on a store holding 10 million
-- events a merge of 240k events took 43 s with the plain indexes (5.6k events/s) and 5.4 s
-- with these (44k/s), the rate of an empty store (docs/DESIGN.md, "Ingest at size").
--
-- How: every event row carries `ingest_segment`, the number of the segment of about a million
-- events (store_options::segment_events) that the merger was filling when it stored the row;
-- the indexes lead with it. New rows therefore only ever go into the newest segment's part of
-- each index, which stays small and cached; older parts are never written again. Rows stored
-- before this migration are segment 0.
-- Lookups by email or sg_message_id still need only the plain `WHERE email = ?`: SQLite's
-- skip-scan seeks each segment's part of the index in turn ("ANY(ingest_segment) AND email=?"
-- in EXPLAIN QUERY PLAN), a handful of seeks per table. SQLite considers a skip-scan only
-- when sqlite_stat1 says the leading column has few distinct values, so this migration writes
-- those statistics (any sqlite3, Python or Datasette reading the file loads them; a later
-- ANALYZE computes the same conclusion from the data).
-- The timestamp indexes stay as they are: timestamps arrive in nearly ascending order, so
-- their new entries go to the end.
-- Recreating the indexes reads every row once: about a minute per 10 million events, shown by
-- `sendgrid-source migrate`. The migration is one transaction: a crash rolls it back whole.

ALTER TABLE processed ADD COLUMN ingest_segment INTEGER NOT NULL DEFAULT 0;
DROP INDEX processed_by_email;
DROP INDEX processed_by_message;
CREATE INDEX processed_by_email ON processed(ingest_segment, email);
CREATE INDEX processed_by_message ON processed(ingest_segment, sg_message_id);

ALTER TABLE dropped ADD COLUMN ingest_segment INTEGER NOT NULL DEFAULT 0;
DROP INDEX dropped_by_email;
DROP INDEX dropped_by_message;
CREATE INDEX dropped_by_email ON dropped(ingest_segment, email);
CREATE INDEX dropped_by_message ON dropped(ingest_segment, sg_message_id);

ALTER TABLE delivered ADD COLUMN ingest_segment INTEGER NOT NULL DEFAULT 0;
DROP INDEX delivered_by_email;
DROP INDEX delivered_by_message;
CREATE INDEX delivered_by_email ON delivered(ingest_segment, email);
CREATE INDEX delivered_by_message ON delivered(ingest_segment, sg_message_id);

ALTER TABLE deferred ADD COLUMN ingest_segment INTEGER NOT NULL DEFAULT 0;
DROP INDEX deferred_by_email;
DROP INDEX deferred_by_message;
CREATE INDEX deferred_by_email ON deferred(ingest_segment, email);
CREATE INDEX deferred_by_message ON deferred(ingest_segment, sg_message_id);

ALTER TABLE bounce ADD COLUMN ingest_segment INTEGER NOT NULL DEFAULT 0;
DROP INDEX bounce_by_email;
DROP INDEX bounce_by_message;
CREATE INDEX bounce_by_email ON bounce(ingest_segment, email);
CREATE INDEX bounce_by_message ON bounce(ingest_segment, sg_message_id);

ALTER TABLE _open ADD COLUMN ingest_segment INTEGER NOT NULL DEFAULT 0;
DROP INDEX _open_by_email;
DROP INDEX _open_by_message;
CREATE INDEX _open_by_email ON _open(ingest_segment, email);
CREATE INDEX _open_by_message ON _open(ingest_segment, sg_message_id);

ALTER TABLE click ADD COLUMN ingest_segment INTEGER NOT NULL DEFAULT 0;
DROP INDEX click_by_email;
DROP INDEX click_by_message;
CREATE INDEX click_by_email ON click(ingest_segment, email);
CREATE INDEX click_by_message ON click(ingest_segment, sg_message_id);

ALTER TABLE spam_report ADD COLUMN ingest_segment INTEGER NOT NULL DEFAULT 0;
DROP INDEX spam_report_by_email;
DROP INDEX spam_report_by_message;
CREATE INDEX spam_report_by_email ON spam_report(ingest_segment, email);
CREATE INDEX spam_report_by_message ON spam_report(ingest_segment, sg_message_id);

ALTER TABLE unsubscribe ADD COLUMN ingest_segment INTEGER NOT NULL DEFAULT 0;
DROP INDEX unsubscribe_by_email;
DROP INDEX unsubscribe_by_message;
CREATE INDEX unsubscribe_by_email ON unsubscribe(ingest_segment, email);
CREATE INDEX unsubscribe_by_message ON unsubscribe(ingest_segment, sg_message_id);

ALTER TABLE group_unsubscribe ADD COLUMN ingest_segment INTEGER NOT NULL DEFAULT 0;
DROP INDEX group_unsubscribe_by_email;
DROP INDEX group_unsubscribe_by_message;
CREATE INDEX group_unsubscribe_by_email ON group_unsubscribe(ingest_segment, email);
CREATE INDEX group_unsubscribe_by_message ON group_unsubscribe(ingest_segment, sg_message_id);

ALTER TABLE group_resubscribe ADD COLUMN ingest_segment INTEGER NOT NULL DEFAULT 0;
DROP INDEX group_resubscribe_by_email;
DROP INDEX group_resubscribe_by_message;
CREATE INDEX group_resubscribe_by_email ON group_resubscribe(ingest_segment, email);
CREATE INDEX group_resubscribe_by_message ON group_resubscribe(ingest_segment, sg_message_id);

ALTER TABLE account_status_change ADD COLUMN ingest_segment INTEGER NOT NULL DEFAULT 0;
DROP INDEX account_status_change_by_email;
DROP INDEX account_status_change_by_message;
CREATE INDEX account_status_change_by_email ON account_status_change(ingest_segment, email);
CREATE INDEX account_status_change_by_message ON account_status_change(ingest_segment, sg_message_id);

ALTER TABLE other_events ADD COLUMN ingest_segment INTEGER NOT NULL DEFAULT 0;
DROP INDEX other_events_by_email;
DROP INDEX other_events_by_message;
CREATE INDEX other_events_by_email ON other_events(ingest_segment, email);
CREATE INDEX other_events_by_message ON other_events(ingest_segment, sg_message_id);

-- Creates sqlite_stat1 (analysing nothing else); the rows say: many rows per segment, few
-- per (segment, key). The figures are a planner hint, not a measure: with "two segments" SQLite
-- also prefers the index for joins on email (the README's recipients query) over building a
-- temporary index of a whole table for each query; with "ten" it did not.
ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1 WHERE idx LIKE '%\_by\_email' ESCAPE '\' OR idx LIKE '%\_by\_message' ESCAPE '\';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
  ('processed', 'processed_by_email', '1000000 500000 2'),
  ('processed', 'processed_by_message', '1000000 500000 2'),
  ('dropped', 'dropped_by_email', '1000000 500000 2'),
  ('dropped', 'dropped_by_message', '1000000 500000 2'),
  ('delivered', 'delivered_by_email', '1000000 500000 2'),
  ('delivered', 'delivered_by_message', '1000000 500000 2'),
  ('deferred', 'deferred_by_email', '1000000 500000 2'),
  ('deferred', 'deferred_by_message', '1000000 500000 2'),
  ('bounce', 'bounce_by_email', '1000000 500000 2'),
  ('bounce', 'bounce_by_message', '1000000 500000 2'),
  ('_open', '_open_by_email', '1000000 500000 2'),
  ('_open', '_open_by_message', '1000000 500000 2'),
  ('click', 'click_by_email', '1000000 500000 2'),
  ('click', 'click_by_message', '1000000 500000 2'),
  ('spam_report', 'spam_report_by_email', '1000000 500000 2'),
  ('spam_report', 'spam_report_by_message', '1000000 500000 2'),
  ('unsubscribe', 'unsubscribe_by_email', '1000000 500000 2'),
  ('unsubscribe', 'unsubscribe_by_message', '1000000 500000 2'),
  ('group_unsubscribe', 'group_unsubscribe_by_email', '1000000 500000 2'),
  ('group_unsubscribe', 'group_unsubscribe_by_message', '1000000 500000 2'),
  ('group_resubscribe', 'group_resubscribe_by_email', '1000000 500000 2'),
  ('group_resubscribe', 'group_resubscribe_by_message', '1000000 500000 2'),
  ('account_status_change', 'account_status_change_by_email', '1000000 500000 2'),
  ('account_status_change', 'account_status_change_by_message', '1000000 500000 2'),
  ('other_events', 'other_events_by_email', '1000000 500000 2'),
  ('other_events', 'other_events_by_message', '1000000 500000 2');
-- Again, so that this connection loads the rows just written (ANALYZE ends by loading them).
ANALYZE sqlite_schema;

-- daily_counts: from here on a view whose counts the merger keeps (store/daily_counts.hpp):
-- counts per day of the rows up to a rowid per table are a JSON constant in the view, the rows
-- after those rowids are counted on demand. The daemon (or `migrate`) folds every row into the
-- constant when it opens the store; until then this view counts every row, exactly.
DROP VIEW daily_counts;
CREATE VIEW daily_counts AS
SELECT day, event, sum(events) AS events FROM (
  SELECT json_extract(value, '$[0]') AS day, json_extract(value, '$[1]') AS event,
         json_extract(value, '$[2]') AS events
  FROM json_each('{"through":{"processed":0,"dropped":0,"delivered":0,"deferred":0,"bounce":0,"_open":0,"click":0,"spam_report":0,"unsubscribe":0,"group_unsubscribe":0,"group_resubscribe":0,"account_status_change":0,"other_events":0},"counts":[]}', '$.counts')
  UNION ALL SELECT date(timestamp, 'unixepoch'), 'processed', count(*) FROM processed WHERE rowid > 0 AND timestamp IS NOT NULL GROUP BY 1
  UNION ALL SELECT date(timestamp, 'unixepoch'), 'dropped', count(*) FROM dropped WHERE rowid > 0 AND timestamp IS NOT NULL GROUP BY 1
  UNION ALL SELECT date(timestamp, 'unixepoch'), 'delivered', count(*) FROM delivered WHERE rowid > 0 AND timestamp IS NOT NULL GROUP BY 1
  UNION ALL SELECT date(timestamp, 'unixepoch'), 'deferred', count(*) FROM deferred WHERE rowid > 0 AND timestamp IS NOT NULL GROUP BY 1
  UNION ALL SELECT date(timestamp, 'unixepoch'), 'bounce', count(*) FROM bounce WHERE rowid > 0 AND timestamp IS NOT NULL GROUP BY 1
  UNION ALL SELECT date(timestamp, 'unixepoch'), 'open', count(*) FROM _open WHERE rowid > 0 AND timestamp IS NOT NULL GROUP BY 1
  UNION ALL SELECT date(timestamp, 'unixepoch'), 'click', count(*) FROM click WHERE rowid > 0 AND timestamp IS NOT NULL GROUP BY 1
  UNION ALL SELECT date(timestamp, 'unixepoch'), 'spamreport', count(*) FROM spam_report WHERE rowid > 0 AND timestamp IS NOT NULL GROUP BY 1
  UNION ALL SELECT date(timestamp, 'unixepoch'), 'unsubscribe', count(*) FROM unsubscribe WHERE rowid > 0 AND timestamp IS NOT NULL GROUP BY 1
  UNION ALL SELECT date(timestamp, 'unixepoch'), 'group_unsubscribe', count(*) FROM group_unsubscribe WHERE rowid > 0 AND timestamp IS NOT NULL GROUP BY 1
  UNION ALL SELECT date(timestamp, 'unixepoch'), 'group_resubscribe', count(*) FROM group_resubscribe WHERE rowid > 0 AND timestamp IS NOT NULL GROUP BY 1
  UNION ALL SELECT date(timestamp, 'unixepoch'), 'account_status_change', count(*) FROM account_status_change WHERE rowid > 0 AND timestamp IS NOT NULL GROUP BY 1
  UNION ALL SELECT date(timestamp, 'unixepoch'), event, count(*) FROM other_events WHERE rowid > 0 AND timestamp IS NOT NULL GROUP BY 1, 2
) GROUP BY day, event;
