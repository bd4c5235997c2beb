-- 0001_events: the Event Webhook tables, the activity view and the bookkeeping tables.
--
-- Why the tables look like this:
--  * One table per event type, named as cloud warehouses name them (_open, spam_report, ...),
--    so queries written for those carry over. Every event table has the same typed columns
--    (the union of the fields SendGrid documents for any type): the activity view is then a
--    plain UNION ALL, and a field SendGrid adds to another type later still lands typed.
--  * No UNIQUE constraint and no index on sg_event_id: deduplication is done by the writer
--    with an in-memory set rebuilt at start from the rows of the dedup window (PERF.md: a
--    unique index on a random key halves the insert rate). The database stays the truth.
--  * rowid order is arrival order; `received_at` is the UTC time the request arrived.
--  * A POST is acknowledged once its body is committed to pending_bodies; its events reach
--    these tables within a fraction of a second (at once when the daemon is idle).
--  * Lookup indexes (email, sg_message_id, timestamp) are created per table below.

CREATE TABLE processed (
  sg_event_id TEXT,
  sg_message_id TEXT,
  email TEXT,
  timestamp INTEGER,
  smtp_id TEXT,
  category TEXT NOT NULL DEFAULT '[]',
  asm_group_id INTEGER,
  reason TEXT,
  status TEXT,
  response TEXT,
  attempt INTEGER,
  type TEXT,
  bounce_classification TEXT,
  url TEXT,
  url_offset_index INTEGER,
  url_offset_type TEXT,
  useragent TEXT,
  ip TEXT,
  tls INTEGER,
  cert_err INTEGER,
  sg_machine_open INTEGER,
  sg_content_type TEXT,
  pool_name TEXT,
  pool_id INTEGER,
  marketing_campaign_id INTEGER,
  marketing_campaign_name TEXT,
  marketing_campaign_version TEXT,
  marketing_campaign_split_id INTEGER,
  post_type TEXT,
  sg_user_id INTEGER,
  singlesend_id TEXT,
  singlesend_name TEXT,
  mc_stats TEXT,
  phase_id TEXT,
  send_at INTEGER,
  template_id TEXT,
  template_version_id TEXT,
  template_hash TEXT,
  sg_template_id TEXT,
  sg_template_name TEXT,
  domain TEXT,
  from_address TEXT,
  newsletter TEXT,
  custom_args TEXT NOT NULL DEFAULT '{}',
  raw TEXT NOT NULL,
  received_at TEXT NOT NULL
);

CREATE TABLE dropped (
  sg_event_id TEXT,
  sg_message_id TEXT,
  email TEXT,
  timestamp INTEGER,
  smtp_id TEXT,
  category TEXT NOT NULL DEFAULT '[]',
  asm_group_id INTEGER,
  reason TEXT,
  status TEXT,
  response TEXT,
  attempt INTEGER,
  type TEXT,
  bounce_classification TEXT,
  url TEXT,
  url_offset_index INTEGER,
  url_offset_type TEXT,
  useragent TEXT,
  ip TEXT,
  tls INTEGER,
  cert_err INTEGER,
  sg_machine_open INTEGER,
  sg_content_type TEXT,
  pool_name TEXT,
  pool_id INTEGER,
  marketing_campaign_id INTEGER,
  marketing_campaign_name TEXT,
  marketing_campaign_version TEXT,
  marketing_campaign_split_id INTEGER,
  post_type TEXT,
  sg_user_id INTEGER,
  singlesend_id TEXT,
  singlesend_name TEXT,
  mc_stats TEXT,
  phase_id TEXT,
  send_at INTEGER,
  template_id TEXT,
  template_version_id TEXT,
  template_hash TEXT,
  sg_template_id TEXT,
  sg_template_name TEXT,
  domain TEXT,
  from_address TEXT,
  newsletter TEXT,
  custom_args TEXT NOT NULL DEFAULT '{}',
  raw TEXT NOT NULL,
  received_at TEXT NOT NULL
);

CREATE TABLE delivered (
  sg_event_id TEXT,
  sg_message_id TEXT,
  email TEXT,
  timestamp INTEGER,
  smtp_id TEXT,
  category TEXT NOT NULL DEFAULT '[]',
  asm_group_id INTEGER,
  reason TEXT,
  status TEXT,
  response TEXT,
  attempt INTEGER,
  type TEXT,
  bounce_classification TEXT,
  url TEXT,
  url_offset_index INTEGER,
  url_offset_type TEXT,
  useragent TEXT,
  ip TEXT,
  tls INTEGER,
  cert_err INTEGER,
  sg_machine_open INTEGER,
  sg_content_type TEXT,
  pool_name TEXT,
  pool_id INTEGER,
  marketing_campaign_id INTEGER,
  marketing_campaign_name TEXT,
  marketing_campaign_version TEXT,
  marketing_campaign_split_id INTEGER,
  post_type TEXT,
  sg_user_id INTEGER,
  singlesend_id TEXT,
  singlesend_name TEXT,
  mc_stats TEXT,
  phase_id TEXT,
  send_at INTEGER,
  template_id TEXT,
  template_version_id TEXT,
  template_hash TEXT,
  sg_template_id TEXT,
  sg_template_name TEXT,
  domain TEXT,
  from_address TEXT,
  newsletter TEXT,
  custom_args TEXT NOT NULL DEFAULT '{}',
  raw TEXT NOT NULL,
  received_at TEXT NOT NULL
);

CREATE TABLE deferred (
  sg_event_id TEXT,
  sg_message_id TEXT,
  email TEXT,
  timestamp INTEGER,
  smtp_id TEXT,
  category TEXT NOT NULL DEFAULT '[]',
  asm_group_id INTEGER,
  reason TEXT,
  status TEXT,
  response TEXT,
  attempt INTEGER,
  type TEXT,
  bounce_classification TEXT,
  url TEXT,
  url_offset_index INTEGER,
  url_offset_type TEXT,
  useragent TEXT,
  ip TEXT,
  tls INTEGER,
  cert_err INTEGER,
  sg_machine_open INTEGER,
  sg_content_type TEXT,
  pool_name TEXT,
  pool_id INTEGER,
  marketing_campaign_id INTEGER,
  marketing_campaign_name TEXT,
  marketing_campaign_version TEXT,
  marketing_campaign_split_id INTEGER,
  post_type TEXT,
  sg_user_id INTEGER,
  singlesend_id TEXT,
  singlesend_name TEXT,
  mc_stats TEXT,
  phase_id TEXT,
  send_at INTEGER,
  template_id TEXT,
  template_version_id TEXT,
  template_hash TEXT,
  sg_template_id TEXT,
  sg_template_name TEXT,
  domain TEXT,
  from_address TEXT,
  newsletter TEXT,
  custom_args TEXT NOT NULL DEFAULT '{}',
  raw TEXT NOT NULL,
  received_at TEXT NOT NULL
);

CREATE TABLE bounce (
  sg_event_id TEXT,
  sg_message_id TEXT,
  email TEXT,
  timestamp INTEGER,
  smtp_id TEXT,
  category TEXT NOT NULL DEFAULT '[]',
  asm_group_id INTEGER,
  reason TEXT,
  status TEXT,
  response TEXT,
  attempt INTEGER,
  type TEXT,
  bounce_classification TEXT,
  url TEXT,
  url_offset_index INTEGER,
  url_offset_type TEXT,
  useragent TEXT,
  ip TEXT,
  tls INTEGER,
  cert_err INTEGER,
  sg_machine_open INTEGER,
  sg_content_type TEXT,
  pool_name TEXT,
  pool_id INTEGER,
  marketing_campaign_id INTEGER,
  marketing_campaign_name TEXT,
  marketing_campaign_version TEXT,
  marketing_campaign_split_id INTEGER,
  post_type TEXT,
  sg_user_id INTEGER,
  singlesend_id TEXT,
  singlesend_name TEXT,
  mc_stats TEXT,
  phase_id TEXT,
  send_at INTEGER,
  template_id TEXT,
  template_version_id TEXT,
  template_hash TEXT,
  sg_template_id TEXT,
  sg_template_name TEXT,
  domain TEXT,
  from_address TEXT,
  newsletter TEXT,
  custom_args TEXT NOT NULL DEFAULT '{}',
  raw TEXT NOT NULL,
  received_at TEXT NOT NULL
);

CREATE TABLE _open (
  sg_event_id TEXT,
  sg_message_id TEXT,
  email TEXT,
  timestamp INTEGER,
  smtp_id TEXT,
  category TEXT NOT NULL DEFAULT '[]',
  asm_group_id INTEGER,
  reason TEXT,
  status TEXT,
  response TEXT,
  attempt INTEGER,
  type TEXT,
  bounce_classification TEXT,
  url TEXT,
  url_offset_index INTEGER,
  url_offset_type TEXT,
  useragent TEXT,
  ip TEXT,
  tls INTEGER,
  cert_err INTEGER,
  sg_machine_open INTEGER,
  sg_content_type TEXT,
  pool_name TEXT,
  pool_id INTEGER,
  marketing_campaign_id INTEGER,
  marketing_campaign_name TEXT,
  marketing_campaign_version TEXT,
  marketing_campaign_split_id INTEGER,
  post_type TEXT,
  sg_user_id INTEGER,
  singlesend_id TEXT,
  singlesend_name TEXT,
  mc_stats TEXT,
  phase_id TEXT,
  send_at INTEGER,
  template_id TEXT,
  template_version_id TEXT,
  template_hash TEXT,
  sg_template_id TEXT,
  sg_template_name TEXT,
  domain TEXT,
  from_address TEXT,
  newsletter TEXT,
  custom_args TEXT NOT NULL DEFAULT '{}',
  raw TEXT NOT NULL,
  received_at TEXT NOT NULL
);

CREATE TABLE click (
  sg_event_id TEXT,
  sg_message_id TEXT,
  email TEXT,
  timestamp INTEGER,
  smtp_id TEXT,
  category TEXT NOT NULL DEFAULT '[]',
  asm_group_id INTEGER,
  reason TEXT,
  status TEXT,
  response TEXT,
  attempt INTEGER,
  type TEXT,
  bounce_classification TEXT,
  url TEXT,
  url_offset_index INTEGER,
  url_offset_type TEXT,
  useragent TEXT,
  ip TEXT,
  tls INTEGER,
  cert_err INTEGER,
  sg_machine_open INTEGER,
  sg_content_type TEXT,
  pool_name TEXT,
  pool_id INTEGER,
  marketing_campaign_id INTEGER,
  marketing_campaign_name TEXT,
  marketing_campaign_version TEXT,
  marketing_campaign_split_id INTEGER,
  post_type TEXT,
  sg_user_id INTEGER,
  singlesend_id TEXT,
  singlesend_name TEXT,
  mc_stats TEXT,
  phase_id TEXT,
  send_at INTEGER,
  template_id TEXT,
  template_version_id TEXT,
  template_hash TEXT,
  sg_template_id TEXT,
  sg_template_name TEXT,
  domain TEXT,
  from_address TEXT,
  newsletter TEXT,
  custom_args TEXT NOT NULL DEFAULT '{}',
  raw TEXT NOT NULL,
  received_at TEXT NOT NULL
);

CREATE TABLE spam_report (
  sg_event_id TEXT,
  sg_message_id TEXT,
  email TEXT,
  timestamp INTEGER,
  smtp_id TEXT,
  category TEXT NOT NULL DEFAULT '[]',
  asm_group_id INTEGER,
  reason TEXT,
  status TEXT,
  response TEXT,
  attempt INTEGER,
  type TEXT,
  bounce_classification TEXT,
  url TEXT,
  url_offset_index INTEGER,
  url_offset_type TEXT,
  useragent TEXT,
  ip TEXT,
  tls INTEGER,
  cert_err INTEGER,
  sg_machine_open INTEGER,
  sg_content_type TEXT,
  pool_name TEXT,
  pool_id INTEGER,
  marketing_campaign_id INTEGER,
  marketing_campaign_name TEXT,
  marketing_campaign_version TEXT,
  marketing_campaign_split_id INTEGER,
  post_type TEXT,
  sg_user_id INTEGER,
  singlesend_id TEXT,
  singlesend_name TEXT,
  mc_stats TEXT,
  phase_id TEXT,
  send_at INTEGER,
  template_id TEXT,
  template_version_id TEXT,
  template_hash TEXT,
  sg_template_id TEXT,
  sg_template_name TEXT,
  domain TEXT,
  from_address TEXT,
  newsletter TEXT,
  custom_args TEXT NOT NULL DEFAULT '{}',
  raw TEXT NOT NULL,
  received_at TEXT NOT NULL
);

CREATE TABLE unsubscribe (
  sg_event_id TEXT,
  sg_message_id TEXT,
  email TEXT,
  timestamp INTEGER,
  smtp_id TEXT,
  category TEXT NOT NULL DEFAULT '[]',
  asm_group_id INTEGER,
  reason TEXT,
  status TEXT,
  response TEXT,
  attempt INTEGER,
  type TEXT,
  bounce_classification TEXT,
  url TEXT,
  url_offset_index INTEGER,
  url_offset_type TEXT,
  useragent TEXT,
  ip TEXT,
  tls INTEGER,
  cert_err INTEGER,
  sg_machine_open INTEGER,
  sg_content_type TEXT,
  pool_name TEXT,
  pool_id INTEGER,
  marketing_campaign_id INTEGER,
  marketing_campaign_name TEXT,
  marketing_campaign_version TEXT,
  marketing_campaign_split_id INTEGER,
  post_type TEXT,
  sg_user_id INTEGER,
  singlesend_id TEXT,
  singlesend_name TEXT,
  mc_stats TEXT,
  phase_id TEXT,
  send_at INTEGER,
  template_id TEXT,
  template_version_id TEXT,
  template_hash TEXT,
  sg_template_id TEXT,
  sg_template_name TEXT,
  domain TEXT,
  from_address TEXT,
  newsletter TEXT,
  custom_args TEXT NOT NULL DEFAULT '{}',
  raw TEXT NOT NULL,
  received_at TEXT NOT NULL
);

CREATE TABLE group_unsubscribe (
  sg_event_id TEXT,
  sg_message_id TEXT,
  email TEXT,
  timestamp INTEGER,
  smtp_id TEXT,
  category TEXT NOT NULL DEFAULT '[]',
  asm_group_id INTEGER,
  reason TEXT,
  status TEXT,
  response TEXT,
  attempt INTEGER,
  type TEXT,
  bounce_classification TEXT,
  url TEXT,
  url_offset_index INTEGER,
  url_offset_type TEXT,
  useragent TEXT,
  ip TEXT,
  tls INTEGER,
  cert_err INTEGER,
  sg_machine_open INTEGER,
  sg_content_type TEXT,
  pool_name TEXT,
  pool_id INTEGER,
  marketing_campaign_id INTEGER,
  marketing_campaign_name TEXT,
  marketing_campaign_version TEXT,
  marketing_campaign_split_id INTEGER,
  post_type TEXT,
  sg_user_id INTEGER,
  singlesend_id TEXT,
  singlesend_name TEXT,
  mc_stats TEXT,
  phase_id TEXT,
  send_at INTEGER,
  template_id TEXT,
  template_version_id TEXT,
  template_hash TEXT,
  sg_template_id TEXT,
  sg_template_name TEXT,
  domain TEXT,
  from_address TEXT,
  newsletter TEXT,
  custom_args TEXT NOT NULL DEFAULT '{}',
  raw TEXT NOT NULL,
  received_at TEXT NOT NULL
);

CREATE TABLE group_resubscribe (
  sg_event_id TEXT,
  sg_message_id TEXT,
  email TEXT,
  timestamp INTEGER,
  smtp_id TEXT,
  category TEXT NOT NULL DEFAULT '[]',
  asm_group_id INTEGER,
  reason TEXT,
  status TEXT,
  response TEXT,
  attempt INTEGER,
  type TEXT,
  bounce_classification TEXT,
  url TEXT,
  url_offset_index INTEGER,
  url_offset_type TEXT,
  useragent TEXT,
  ip TEXT,
  tls INTEGER,
  cert_err INTEGER,
  sg_machine_open INTEGER,
  sg_content_type TEXT,
  pool_name TEXT,
  pool_id INTEGER,
  marketing_campaign_id INTEGER,
  marketing_campaign_name TEXT,
  marketing_campaign_version TEXT,
  marketing_campaign_split_id INTEGER,
  post_type TEXT,
  sg_user_id INTEGER,
  singlesend_id TEXT,
  singlesend_name TEXT,
  mc_stats TEXT,
  phase_id TEXT,
  send_at INTEGER,
  template_id TEXT,
  template_version_id TEXT,
  template_hash TEXT,
  sg_template_id TEXT,
  sg_template_name TEXT,
  domain TEXT,
  from_address TEXT,
  newsletter TEXT,
  custom_args TEXT NOT NULL DEFAULT '{}',
  raw TEXT NOT NULL,
  received_at TEXT NOT NULL
);

CREATE TABLE account_status_change (
  sg_event_id TEXT,
  sg_message_id TEXT,
  email TEXT,
  timestamp INTEGER,
  smtp_id TEXT,
  category TEXT NOT NULL DEFAULT '[]',
  asm_group_id INTEGER,
  reason TEXT,
  status TEXT,
  response TEXT,
  attempt INTEGER,
  type TEXT,
  bounce_classification TEXT,
  url TEXT,
  url_offset_index INTEGER,
  url_offset_type TEXT,
  useragent TEXT,
  ip TEXT,
  tls INTEGER,
  cert_err INTEGER,
  sg_machine_open INTEGER,
  sg_content_type TEXT,
  pool_name TEXT,
  pool_id INTEGER,
  marketing_campaign_id INTEGER,
  marketing_campaign_name TEXT,
  marketing_campaign_version TEXT,
  marketing_campaign_split_id INTEGER,
  post_type TEXT,
  sg_user_id INTEGER,
  singlesend_id TEXT,
  singlesend_name TEXT,
  mc_stats TEXT,
  phase_id TEXT,
  send_at INTEGER,
  template_id TEXT,
  template_version_id TEXT,
  template_hash TEXT,
  sg_template_id TEXT,
  sg_template_name TEXT,
  domain TEXT,
  from_address TEXT,
  newsletter TEXT,
  custom_args TEXT NOT NULL DEFAULT '{}',
  raw TEXT NOT NULL,
  received_at TEXT NOT NULL
);

-- Events whose `event` string we do not know (yet): kept whole, `event` says which.
CREATE TABLE other_events (
  event TEXT NOT NULL,
  sg_event_id TEXT,
  sg_message_id TEXT,
  email TEXT,
  timestamp INTEGER,
  smtp_id TEXT,
  category TEXT NOT NULL DEFAULT '[]',
  asm_group_id INTEGER,
  reason TEXT,
  status TEXT,
  response TEXT,
  attempt INTEGER,
  type TEXT,
  bounce_classification TEXT,
  url TEXT,
  url_offset_index INTEGER,
  url_offset_type TEXT,
  useragent TEXT,
  ip TEXT,
  tls INTEGER,
  cert_err INTEGER,
  sg_machine_open INTEGER,
  sg_content_type TEXT,
  pool_name TEXT,
  pool_id INTEGER,
  marketing_campaign_id INTEGER,
  marketing_campaign_name TEXT,
  marketing_campaign_version TEXT,
  marketing_campaign_split_id INTEGER,
  post_type TEXT,
  sg_user_id INTEGER,
  singlesend_id TEXT,
  singlesend_name TEXT,
  mc_stats TEXT,
  phase_id TEXT,
  send_at INTEGER,
  template_id TEXT,
  template_version_id TEXT,
  template_hash TEXT,
  sg_template_id TEXT,
  sg_template_name TEXT,
  domain TEXT,
  from_address TEXT,
  newsletter TEXT,
  custom_args TEXT NOT NULL DEFAULT '{}',
  raw TEXT NOT NULL,
  received_at TEXT NOT NULL
);

CREATE INDEX processed_by_email ON processed(email);
CREATE INDEX processed_by_message ON processed(sg_message_id);
CREATE INDEX processed_by_time ON processed(timestamp);
CREATE INDEX dropped_by_email ON dropped(email);
CREATE INDEX dropped_by_message ON dropped(sg_message_id);
CREATE INDEX dropped_by_time ON dropped(timestamp);
CREATE INDEX delivered_by_email ON delivered(email);
CREATE INDEX delivered_by_message ON delivered(sg_message_id);
CREATE INDEX delivered_by_time ON delivered(timestamp);
CREATE INDEX deferred_by_email ON deferred(email);
CREATE INDEX deferred_by_message ON deferred(sg_message_id);
CREATE INDEX deferred_by_time ON deferred(timestamp);
CREATE INDEX bounce_by_email ON bounce(email);
CREATE INDEX bounce_by_message ON bounce(sg_message_id);
CREATE INDEX bounce_by_time ON bounce(timestamp);
CREATE INDEX _open_by_email ON _open(email);
CREATE INDEX _open_by_message ON _open(sg_message_id);
CREATE INDEX _open_by_time ON _open(timestamp);
CREATE INDEX click_by_email ON click(email);
CREATE INDEX click_by_message ON click(sg_message_id);
CREATE INDEX click_by_time ON click(timestamp);
CREATE INDEX spam_report_by_email ON spam_report(email);
CREATE INDEX spam_report_by_message ON spam_report(sg_message_id);
CREATE INDEX spam_report_by_time ON spam_report(timestamp);
CREATE INDEX unsubscribe_by_email ON unsubscribe(email);
CREATE INDEX unsubscribe_by_message ON unsubscribe(sg_message_id);
CREATE INDEX unsubscribe_by_time ON unsubscribe(timestamp);
CREATE INDEX group_unsubscribe_by_email ON group_unsubscribe(email);
CREATE INDEX group_unsubscribe_by_message ON group_unsubscribe(sg_message_id);
CREATE INDEX group_unsubscribe_by_time ON group_unsubscribe(timestamp);
CREATE INDEX group_resubscribe_by_email ON group_resubscribe(email);
CREATE INDEX group_resubscribe_by_message ON group_resubscribe(sg_message_id);
CREATE INDEX group_resubscribe_by_time ON group_resubscribe(timestamp);
CREATE INDEX account_status_change_by_email ON account_status_change(email);
CREATE INDEX account_status_change_by_message ON account_status_change(sg_message_id);
CREATE INDEX account_status_change_by_time ON account_status_change(timestamp);
CREATE INDEX other_events_by_email ON other_events(email);
CREATE INDEX other_events_by_message ON other_events(sg_message_id);
CREATE INDEX other_events_by_time ON other_events(timestamp);

-- Webhook bodies that are durable and acknowledged but not yet moved into the event tables.
-- The hot path only appends here (one row per POST: the cheapest durable write); the writer
-- moves bodies into the event tables in large batches, in the transaction that deletes them
-- here, so a crash leaves each body in exactly one of the two places. Under load it holds up
-- to a few seconds of events; when the daemon is idle it is empty.
CREATE TABLE pending_bodies (
  id INTEGER PRIMARY KEY,
  received_at TEXT NOT NULL,
  body BLOB NOT NULL,
  events INTEGER NOT NULL,  -- usable events + rejected elements in the body
  duplicates BLOB           -- indexes (uint32 LE) of the body's events found to be duplicates
);

-- Elements of a webhook body that were not usable events (not an object, no `event`, wrong
-- types): kept exactly as received, with the reason, so nothing is silently dropped.
CREATE TABLE rejected_events (
  reason TEXT NOT NULL,
  raw TEXT NOT NULL,
  received_at TEXT NOT NULL
);

-- Every event of every type, with `event` as SendGrid names it.
CREATE VIEW activity AS
  SELECT 'processed' AS event, 'processed' AS source_table, sg_event_id, sg_message_id, email, timestamp, smtp_id, category, asm_group_id, reason, status, response, attempt, type, bounce_classification, url, url_offset_index, url_offset_type, useragent, ip, tls, cert_err, sg_machine_open, sg_content_type, pool_name, pool_id, marketing_campaign_id, marketing_campaign_name, marketing_campaign_version, marketing_campaign_split_id, post_type, sg_user_id, singlesend_id, singlesend_name, mc_stats, phase_id, send_at, template_id, template_version_id, template_hash, sg_template_id, sg_template_name, domain, from_address, newsletter, custom_args, received_at, raw FROM processed
UNION ALL
  SELECT 'dropped' AS event, 'dropped' AS source_table, sg_event_id, sg_message_id, email, timestamp, smtp_id, category, asm_group_id, reason, status, response, attempt, type, bounce_classification, url, url_offset_index, url_offset_type, useragent, ip, tls, cert_err, sg_machine_open, sg_content_type, pool_name, pool_id, marketing_campaign_id, marketing_campaign_name, marketing_campaign_version, marketing_campaign_split_id, post_type, sg_user_id, singlesend_id, singlesend_name, mc_stats, phase_id, send_at, template_id, template_version_id, template_hash, sg_template_id, sg_template_name, domain, from_address, newsletter, custom_args, received_at, raw FROM dropped
UNION ALL
  SELECT 'delivered' AS event, 'delivered' AS source_table, sg_event_id, sg_message_id, email, timestamp, smtp_id, category, asm_group_id, reason, status, response, attempt, type, bounce_classification, url, url_offset_index, url_offset_type, useragent, ip, tls, cert_err, sg_machine_open, sg_content_type, pool_name, pool_id, marketing_campaign_id, marketing_campaign_name, marketing_campaign_version, marketing_campaign_split_id, post_type, sg_user_id, singlesend_id, singlesend_name, mc_stats, phase_id, send_at, template_id, template_version_id, template_hash, sg_template_id, sg_template_name, domain, from_address, newsletter, custom_args, received_at, raw FROM delivered
UNION ALL
  SELECT 'deferred' AS event, 'deferred' AS source_table, sg_event_id, sg_message_id, email, timestamp, smtp_id, category, asm_group_id, reason, status, response, attempt, type, bounce_classification, url, url_offset_index, url_offset_type, useragent, ip, tls, cert_err, sg_machine_open, sg_content_type, pool_name, pool_id, marketing_campaign_id, marketing_campaign_name, marketing_campaign_version, marketing_campaign_split_id, post_type, sg_user_id, singlesend_id, singlesend_name, mc_stats, phase_id, send_at, template_id, template_version_id, template_hash, sg_template_id, sg_template_name, domain, from_address, newsletter, custom_args, received_at, raw FROM deferred
UNION ALL
  SELECT 'bounce' AS event, 'bounce' AS source_table, sg_event_id, sg_message_id, email, timestamp, smtp_id, category, asm_group_id, reason, status, response, attempt, type, bounce_classification, url, url_offset_index, url_offset_type, useragent, ip, tls, cert_err, sg_machine_open, sg_content_type, pool_name, pool_id, marketing_campaign_id, marketing_campaign_name, marketing_campaign_version, marketing_campaign_split_id, post_type, sg_user_id, singlesend_id, singlesend_name, mc_stats, phase_id, send_at, template_id, template_version_id, template_hash, sg_template_id, sg_template_name, domain, from_address, newsletter, custom_args, received_at, raw FROM bounce
UNION ALL
  SELECT 'open' AS event, '_open' AS source_table, sg_event_id, sg_message_id, email, timestamp, smtp_id, category, asm_group_id, reason, status, response, attempt, type, bounce_classification, url, url_offset_index, url_offset_type, useragent, ip, tls, cert_err, sg_machine_open, sg_content_type, pool_name, pool_id, marketing_campaign_id, marketing_campaign_name, marketing_campaign_version, marketing_campaign_split_id, post_type, sg_user_id, singlesend_id, singlesend_name, mc_stats, phase_id, send_at, template_id, template_version_id, template_hash, sg_template_id, sg_template_name, domain, from_address, newsletter, custom_args, received_at, raw FROM _open
UNION ALL
  SELECT 'click' AS event, 'click' AS source_table, sg_event_id, sg_message_id, email, timestamp, smtp_id, category, asm_group_id, reason, status, response, attempt, type, bounce_classification, url, url_offset_index, url_offset_type, useragent, ip, tls, cert_err, sg_machine_open, sg_content_type, pool_name, pool_id, marketing_campaign_id, marketing_campaign_name, marketing_campaign_version, marketing_campaign_split_id, post_type, sg_user_id, singlesend_id, singlesend_name, mc_stats, phase_id, send_at, template_id, template_version_id, template_hash, sg_template_id, sg_template_name, domain, from_address, newsletter, custom_args, received_at, raw FROM click
UNION ALL
  SELECT 'spamreport' AS event, 'spam_report' AS source_table, sg_event_id, sg_message_id, email, timestamp, smtp_id, category, asm_group_id, reason, status, response, attempt, type, bounce_classification, url, url_offset_index, url_offset_type, useragent, ip, tls, cert_err, sg_machine_open, sg_content_type, pool_name, pool_id, marketing_campaign_id, marketing_campaign_name, marketing_campaign_version, marketing_campaign_split_id, post_type, sg_user_id, singlesend_id, singlesend_name, mc_stats, phase_id, send_at, template_id, template_version_id, template_hash, sg_template_id, sg_template_name, domain, from_address, newsletter, custom_args, received_at, raw FROM spam_report
UNION ALL
  SELECT 'unsubscribe' AS event, 'unsubscribe' AS source_table, sg_event_id, sg_message_id, email, timestamp, smtp_id, category, asm_group_id, reason, status, response, attempt, type, bounce_classification, url, url_offset_index, url_offset_type, useragent, ip, tls, cert_err, sg_machine_open, sg_content_type, pool_name, pool_id, marketing_campaign_id, marketing_campaign_name, marketing_campaign_version, marketing_campaign_split_id, post_type, sg_user_id, singlesend_id, singlesend_name, mc_stats, phase_id, send_at, template_id, template_version_id, template_hash, sg_template_id, sg_template_name, domain, from_address, newsletter, custom_args, received_at, raw FROM unsubscribe
UNION ALL
  SELECT 'group_unsubscribe' AS event, 'group_unsubscribe' AS source_table, sg_event_id, sg_message_id, email, timestamp, smtp_id, category, asm_group_id, reason, status, response, attempt, type, bounce_classification, url, url_offset_index, url_offset_type, useragent, ip, tls, cert_err, sg_machine_open, sg_content_type, pool_name, pool_id, marketing_campaign_id, marketing_campaign_name, marketing_campaign_version, marketing_campaign_split_id, post_type, sg_user_id, singlesend_id, singlesend_name, mc_stats, phase_id, send_at, template_id, template_version_id, template_hash, sg_template_id, sg_template_name, domain, from_address, newsletter, custom_args, received_at, raw FROM group_unsubscribe
UNION ALL
  SELECT 'group_resubscribe' AS event, 'group_resubscribe' AS source_table, sg_event_id, sg_message_id, email, timestamp, smtp_id, category, asm_group_id, reason, status, response, attempt, type, bounce_classification, url, url_offset_index, url_offset_type, useragent, ip, tls, cert_err, sg_machine_open, sg_content_type, pool_name, pool_id, marketing_campaign_id, marketing_campaign_name, marketing_campaign_version, marketing_campaign_split_id, post_type, sg_user_id, singlesend_id, singlesend_name, mc_stats, phase_id, send_at, template_id, template_version_id, template_hash, sg_template_id, sg_template_name, domain, from_address, newsletter, custom_args, received_at, raw FROM group_resubscribe
UNION ALL
  SELECT 'account_status_change' AS event, 'account_status_change' AS source_table, sg_event_id, sg_message_id, email, timestamp, smtp_id, category, asm_group_id, reason, status, response, attempt, type, bounce_classification, url, url_offset_index, url_offset_type, useragent, ip, tls, cert_err, sg_machine_open, sg_content_type, pool_name, pool_id, marketing_campaign_id, marketing_campaign_name, marketing_campaign_version, marketing_campaign_split_id, post_type, sg_user_id, singlesend_id, singlesend_name, mc_stats, phase_id, send_at, template_id, template_version_id, template_hash, sg_template_id, sg_template_name, domain, from_address, newsletter, custom_args, received_at, raw FROM account_status_change
UNION ALL
  SELECT event, 'other_events' AS source_table, sg_event_id, sg_message_id, email, timestamp, smtp_id, category, asm_group_id, reason, status, response, attempt, type, bounce_classification, url, url_offset_index, url_offset_type, useragent, ip, tls, cert_err, sg_machine_open, sg_content_type, pool_name, pool_id, marketing_campaign_id, marketing_campaign_name, marketing_campaign_version, marketing_campaign_split_id, post_type, sg_user_id, singlesend_id, singlesend_name, mc_stats, phase_id, send_at, template_id, template_version_id, template_hash, sg_template_id, sg_template_name, domain, from_address, newsletter, custom_args, received_at, raw FROM other_events;

-- Events per UTC day (of the event's own timestamp) and type. Computed from the timestamp
-- indexes: one index range count per day and table, ~0.1 s per million events counted, so
-- filter on `day` (and `events > 0` to drop empty days). A table kept by the writer would be
-- faster still, but every extra row breaks "rows = events acknowledged" checks.
CREATE VIEW daily_counts AS
WITH RECURSIVE
  span(lo, hi) AS (SELECT min(lo) / 86400, max(hi) / 86400 FROM (SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM processed UNION ALL SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM dropped UNION ALL SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM delivered UNION ALL SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM deferred UNION ALL SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM bounce UNION ALL SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM _open UNION ALL SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM click UNION ALL SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM spam_report UNION ALL SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM unsubscribe UNION ALL SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM group_unsubscribe UNION ALL SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM group_resubscribe UNION ALL SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM account_status_change UNION ALL SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM other_events)),
  days(d) AS (SELECT lo FROM span WHERE lo IS NOT NULL UNION ALL SELECT d + 1 FROM days, span WHERE d < span.hi)
  SELECT date(d * 86400, 'unixepoch') AS day, 'processed' AS event,
         (SELECT count(*) FROM processed WHERE timestamp >= d * 86400 AND timestamp < d * 86400 + 86400) AS events
  FROM days
UNION ALL
  SELECT date(d * 86400, 'unixepoch') AS day, 'dropped' AS event,
         (SELECT count(*) FROM dropped WHERE timestamp >= d * 86400 AND timestamp < d * 86400 + 86400) AS events
  FROM days
UNION ALL
  SELECT date(d * 86400, 'unixepoch') AS day, 'delivered' AS event,
         (SELECT count(*) FROM delivered WHERE timestamp >= d * 86400 AND timestamp < d * 86400 + 86400) AS events
  FROM days
UNION ALL
  SELECT date(d * 86400, 'unixepoch') AS day, 'deferred' AS event,
         (SELECT count(*) FROM deferred WHERE timestamp >= d * 86400 AND timestamp < d * 86400 + 86400) AS events
  FROM days
UNION ALL
  SELECT date(d * 86400, 'unixepoch') AS day, 'bounce' AS event,
         (SELECT count(*) FROM bounce WHERE timestamp >= d * 86400 AND timestamp < d * 86400 + 86400) AS events
  FROM days
UNION ALL
  SELECT date(d * 86400, 'unixepoch') AS day, 'open' AS event,
         (SELECT count(*) FROM _open WHERE timestamp >= d * 86400 AND timestamp < d * 86400 + 86400) AS events
  FROM days
UNION ALL
  SELECT date(d * 86400, 'unixepoch') AS day, 'click' AS event,
         (SELECT count(*) FROM click WHERE timestamp >= d * 86400 AND timestamp < d * 86400 + 86400) AS events
  FROM days
UNION ALL
  SELECT date(d * 86400, 'unixepoch') AS day, 'spamreport' AS event,
         (SELECT count(*) FROM spam_report WHERE timestamp >= d * 86400 AND timestamp < d * 86400 + 86400) AS events
  FROM days
UNION ALL
  SELECT date(d * 86400, 'unixepoch') AS day, 'unsubscribe' AS event,
         (SELECT count(*) FROM unsubscribe WHERE timestamp >= d * 86400 AND timestamp < d * 86400 + 86400) AS events
  FROM days
UNION ALL
  SELECT date(d * 86400, 'unixepoch') AS day, 'group_unsubscribe' AS event,
         (SELECT count(*) FROM group_unsubscribe WHERE timestamp >= d * 86400 AND timestamp < d * 86400 + 86400) AS events
  FROM days
UNION ALL
  SELECT date(d * 86400, 'unixepoch') AS day, 'group_resubscribe' AS event,
         (SELECT count(*) FROM group_resubscribe WHERE timestamp >= d * 86400 AND timestamp < d * 86400 + 86400) AS events
  FROM days
UNION ALL
  SELECT date(d * 86400, 'unixepoch') AS day, 'account_status_change' AS event,
         (SELECT count(*) FROM account_status_change WHERE timestamp >= d * 86400 AND timestamp < d * 86400 + 86400) AS events
  FROM days
UNION ALL
  SELECT date(d * 86400, 'unixepoch') AS day, o.event AS event,
         (SELECT count(*) FROM other_events WHERE event = o.event AND timestamp >= d * 86400 AND timestamp < d * 86400 + 86400) AS events
  FROM days, (SELECT DISTINCT event FROM other_events) AS o;
