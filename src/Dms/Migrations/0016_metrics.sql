-- Operations (issue 14): the numbers /metrics reports about work queued in the database, for every tenant at once.
-- The runtime role sees one tenant at a time (row-level security); this definer function answers counts only, never
-- a tenant, an id or a payload, so it is safe to grant.
CREATE INDEX outbox_messages_dead ON outbox_messages (type) WHERE status = 'Dead';

CREATE FUNCTION dms_metrics_snapshot()
  RETURNS TABLE (metric text, label text, value double precision)
  LANGUAGE sql STABLE
  SECURITY DEFINER
  SET search_path = public, pg_temp
  AS $$
    SELECT 'outbox_backlog', type, count(*)::double precision FROM outbox_messages WHERE status IN ('Pending', 'Processing') GROUP BY type
    UNION ALL
    SELECT 'outbox_oldest_pending_age', type, GREATEST(extract(epoch FROM now() - min(created_at)), 0)::double precision
    FROM outbox_messages WHERE status = 'Pending' GROUP BY type
    UNION ALL
    SELECT 'outbox_dead', type, count(*)::double precision FROM outbox_messages WHERE status = 'Dead' GROUP BY type
  $$;
-- (Approval requests are under FORCE ROW LEVEL SECURITY, which holds their owner too: the app counts their state
-- changes itself, dms_approvals_transitions_total.)
REVOKE ALL ON FUNCTION dms_metrics_snapshot() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dms_metrics_snapshot() TO dms_app;
