-- 0011_time_index_segments: the timestamp index leads with ingest_segment, as the email and
-- sg_message_id indexes do since 0006.
--
-- Why: 0006 left this index alone because new events carry the newest timestamps, so their
-- entries go to its end. Not all of them do: opens and clicks come days after the send,
-- SendGrid retries for up to 72 hours, and a replay or a backfill brings any timestamp. Each
-- such event dirties an index page of its own once the index outgrows the cache, written to
-- the WAL and again by the checkpoint. Measured on a store of 12 million events receiving a
-- month of timestamps (bench/scale_bench.sh's load): 46 000-51 000 events/s into the tables
-- with this index as it was, 62 000 without it, the empty store's rate; with it segmented the
-- cost is gone (docs/DESIGN.md, "Ingest at size").
--
-- Queries by time keep their plain form (`WHERE timestamp BETWEEN ? AND ?`): SQLite's skip-scan
-- seeks each segment's part of the index for the range ("ANY(ingest_segment) AND timestamp>?"
-- in EXPLAIN QUERY PLAN), told by sqlite_stat1 that the leading column has few values. The
-- index still covers (kind, event), so counts per type over a time range read only the index.
-- Rebuilding it reads every row once: about a minute per 10 million events, shown by
-- `sendgrid-source migrate`; one transaction, as every migration.

DROP INDEX event_rows_by_time;
CREATE INDEX event_rows_by_time ON event_rows(ingest_segment, timestamp, kind, event);

ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1 WHERE idx = 'event_rows_by_time';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
  ('event_rows', 'event_rows_by_time', '1000000 500000 2 1 1');
-- Again, so that this connection loads the row just written.
ANALYZE sqlite_schema;
