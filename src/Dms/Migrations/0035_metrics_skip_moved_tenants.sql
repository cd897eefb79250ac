-- The outbox gauges after a tenant move (issue 18, ADR 0036): a moved tenant's rows stay behind in the main database
-- (nothing processes them there: the claims skip moved tenants), so they would show as a backlog that never drains and
-- fire the backlog alert after every move. The tenant's live outbox is counted in its own database (MetricsSampler
-- samples every database that holds tenants and adds them up).
CREATE OR REPLACE FUNCTION dms_metrics_snapshot()
  RETURNS TABLE (metric text, label text, value double precision)
  LANGUAGE sql STABLE
  SECURITY DEFINER
  SET search_path = public, pg_temp
  AS $$
    WITH live AS (
      SELECT m.type, m.status, m.created_at FROM outbox_messages m
      WHERE m.status IN ('Pending', 'Processing', 'Dead')
        AND NOT EXISTS (SELECT 1 FROM tenant_placements p WHERE p.tenant = m.tenant_id AND p.state = 'Moved'))
    SELECT 'outbox_backlog', type, count(*)::double precision FROM live WHERE status IN ('Pending', 'Processing') GROUP BY type
    UNION ALL
    SELECT 'outbox_oldest_pending_age', type, GREATEST(extract(epoch FROM now() - min(created_at)), 0)::double precision
    FROM live WHERE status = 'Pending' GROUP BY type
    UNION ALL
    SELECT 'outbox_dead', type, count(*)::double precision FROM live WHERE status = 'Dead' GROUP BY type
  $$;
REVOKE ALL ON FUNCTION dms_metrics_snapshot() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dms_metrics_snapshot() TO dms_app;
