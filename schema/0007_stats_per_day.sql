-- 0007_stats_per_day: singlesend_stats and automation_stats per day (issue 16), where 0005
-- kept only the listing's totals. Rows stay keyed by `id` = singlesend_id|ab_variation|
-- ab_phase|aggregation (automation_id|step_id|aggregation), where `aggregation` is "total"
-- for the totals and the day for a day of /v3/marketing/stats/{singlesends,automations}/{id}
-- ?aggregated_by=day, so existing rows keep their keys. `date` names the day of a day's row
-- (NULL for totals), for range queries; the index serves "per day over a range" and one
-- item's days.
-- (Numbered 0007: the lead's event-layout change may take 0006; renumber at merge if not.)
ALTER TABLE singlesend_stats ADD COLUMN date TEXT;
ALTER TABLE automation_stats ADD COLUMN date TEXT;
CREATE INDEX singlesend_stats_by_date ON singlesend_stats(date, singlesend_id);
CREATE INDEX automation_stats_by_date ON automation_stats(date, automation_id);
