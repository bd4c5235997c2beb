-- 0009_recipient_activity: recipient_activity answers one email in milliseconds and the whole
-- account in seconds, as a plain view (issue 16).
--
-- Why: 0005's recipient_activity pivots with GROUP BY email over a UNION ALL of per-table
-- aggregates. SQLite 3.40 moves a `WHERE email = ?` on such a view into its HAVING, and from
-- there only as far as the outer GROUP BY: the subquery under it was already computed from
-- every event, so one email took as long as all of them (93 s and 90 s on 10 million events).
--
-- How: the pivot is done with window functions over `PARTITION BY email` and DISTINCT, not with
-- GROUP BY. SQLite pushes a WHERE on a partition column through the window into the UNION ALL
-- of recipient_activity_by_kind and into each arm, where each table's index on email answers it
-- (SEARCH ... USING COVERING INDEX <t>_by_email (ANY(ingest_segment) AND email=?) in EXPLAIN
-- QUERY PLAN). For the whole view each table is grouped once by email and the window sorts the
-- per-kind rows (a few per recipient) once more. No table is kept by the merger: the events
-- database holds events only.
--
-- The email indexes of the seven tables the view reads gain `timestamp`, so that both the one
-- email and the whole view read only index pages, never the event rows with their raw JSON.
-- The index keeps its leading `ingest_segment` (0006), so ingest cost grows only by the
-- timestamp in each entry (measured: docs/DESIGN.md, "recipient_activity"). Rebuilding them
-- reads those tables once (13 s on 10 million events).
--
-- Written to apply after any rebuild of the event tables: it drops and recreates what it
-- defines (recipient_activity_by_kind too, unchanged from 0005, as recipient_activity reads
-- it), and rewrites the planner statistics of the indexes it recreates (0006 says why SQLite
-- needs them for its skip-scan on email).

DROP VIEW IF EXISTS recipient_activity;
DROP VIEW IF EXISTS recipient_activity_by_kind;

DROP INDEX IF EXISTS delivered_by_email;
CREATE INDEX delivered_by_email ON delivered(ingest_segment, email, timestamp);
DROP INDEX IF EXISTS _open_by_email;
CREATE INDEX _open_by_email ON _open(ingest_segment, email, timestamp);
DROP INDEX IF EXISTS click_by_email;
CREATE INDEX click_by_email ON click(ingest_segment, email, timestamp);
DROP INDEX IF EXISTS bounce_by_email;
CREATE INDEX bounce_by_email ON bounce(ingest_segment, email, timestamp);
DROP INDEX IF EXISTS unsubscribe_by_email;
CREATE INDEX unsubscribe_by_email ON unsubscribe(ingest_segment, email, timestamp);
DROP INDEX IF EXISTS group_unsubscribe_by_email;
CREATE INDEX group_unsubscribe_by_email ON group_unsubscribe(ingest_segment, email, timestamp);
DROP INDEX IF EXISTS spam_report_by_email;
CREATE INDEX spam_report_by_email ON spam_report(ingest_segment, email, timestamp);

ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1 WHERE idx IN ('delivered_by_email', '_open_by_email', 'click_by_email',
  'bounce_by_email', 'unsubscribe_by_email', 'group_unsubscribe_by_email', 'spam_report_by_email');
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
  ('delivered', 'delivered_by_email', '1000000 500000 2 1'),
  ('_open', '_open_by_email', '1000000 500000 2 1'),
  ('click', 'click_by_email', '1000000 500000 2 1'),
  ('bounce', 'bounce_by_email', '1000000 500000 2 1'),
  ('unsubscribe', 'unsubscribe_by_email', '1000000 500000 2 1'),
  ('group_unsubscribe', 'group_unsubscribe_by_email', '1000000 500000 2 1'),
  ('spam_report', 'spam_report_by_email', '1000000 500000 2 1');
-- Again, so that this connection loads the rows just written.
ANALYZE sqlite_schema;

-- One row per email and kind of activity: the last time (unix seconds) and the count. Each arm
-- groups one table; a WHERE on email reaches every arm.
CREATE VIEW recipient_activity_by_kind AS
SELECT email, 'delivered' AS activity, max(timestamp) AS last_at, count(*) AS events
  FROM delivered GROUP BY email
UNION ALL SELECT email, 'open', max(timestamp), count(*) FROM _open GROUP BY email
UNION ALL SELECT email, 'click', max(timestamp), count(*) FROM click GROUP BY email
UNION ALL SELECT email, 'bounce', max(timestamp), count(*) FROM bounce GROUP BY email
UNION ALL SELECT email, 'unsubscribe', max(timestamp), count(*) FROM unsubscribe GROUP BY email
UNION ALL SELECT email, 'group_unsubscribe', max(timestamp), count(*) FROM group_unsubscribe
  GROUP BY email
UNION ALL SELECT email, 'spam_report', max(timestamp), count(*) FROM spam_report GROUP BY email;

-- One row per email: the pivot of recipient_activity_by_kind (group unsubscribes count as
-- unsubscribes). Every row of a partition carries the same values; DISTINCT keeps one.
CREATE VIEW recipient_activity AS
SELECT DISTINCT email,
  max(last_at) FILTER (WHERE activity = 'delivered') OVER per_email AS last_delivered_at,
  coalesce(sum(events) FILTER (WHERE activity = 'delivered') OVER per_email, 0)
    AS delivered_count,
  max(last_at) FILTER (WHERE activity = 'open') OVER per_email AS last_open_at,
  coalesce(sum(events) FILTER (WHERE activity = 'open') OVER per_email, 0) AS open_count,
  max(last_at) FILTER (WHERE activity = 'click') OVER per_email AS last_click_at,
  coalesce(sum(events) FILTER (WHERE activity = 'click') OVER per_email, 0) AS click_count,
  max(last_at) FILTER (WHERE activity = 'bounce') OVER per_email AS last_bounce_at,
  coalesce(sum(events) FILTER (WHERE activity = 'bounce') OVER per_email, 0) AS bounce_count,
  max(last_at) FILTER (WHERE activity IN ('unsubscribe', 'group_unsubscribe')) OVER per_email
    AS last_unsubscribe_at,
  coalesce(sum(events) FILTER (WHERE activity IN ('unsubscribe', 'group_unsubscribe'))
    OVER per_email, 0) AS unsubscribe_count,
  max(last_at) FILTER (WHERE activity = 'spam_report') OVER per_email AS last_spam_report_at,
  coalesce(sum(events) FILTER (WHERE activity = 'spam_report') OVER per_email, 0)
    AS spam_report_count
FROM recipient_activity_by_kind
WINDOW per_email AS (PARTITION BY email);
