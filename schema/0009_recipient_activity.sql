-- 0009_recipient_activity: recipient_activity answers one email in milliseconds, as a plain
-- view (issue 16).
--
-- Why: 0005's recipient_activity pivots with GROUP BY email over a UNION ALL of per-table
-- aggregates. SQLite 3.40 moves a `WHERE email = ?` on such a view into its HAVING, and from
-- there only as far as the outer GROUP BY: the subquery under it was already computed from
-- every event, so one email took as long as all of them (93 s and 90 s on 10 million events).
--
-- How: the pivot is done with window functions over `PARTITION BY email` and DISTINCT, not with
-- GROUP BY. SQLite pushes a WHERE on a partition column through the window into the UNION ALL
-- of recipient_activity_by_kind and into each arm, where each table's index on email answers it
-- (the search below). For the whole view each table is grouped once by email and the window sorts the
-- per-kind rows (a few per recipient) once more. No table is kept by the merger: the events
-- database holds events only.
--
-- One email reads that email's rows through each table's email index (0006: "SEARCH ... USING
-- INDEX <t>_by_email (ANY(ingest_segment) AND email=?)"). The indexes stay as they are:
-- `email` is computed from `raw` (0008) and SQLite 3.40 never treats an index on such a column
-- as covering, so widening them with `timestamp` would not spare reading the rows.
--
-- Written to apply after any rebuild of the event tables: it drops and recreates what it
-- defines (recipient_activity_by_kind too, unchanged from 0005, as recipient_activity reads
-- it).

DROP VIEW IF EXISTS recipient_activity;
DROP VIEW IF EXISTS recipient_activity_by_kind;

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
