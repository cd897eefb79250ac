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

-- A claim whose answer was lost (the database stopped right after committing it, before the rows reached the node)
-- leaves its messages Processing under a lease nobody works on: they would wait the lease out (five minutes on the
-- background lane) and lose an attempt. Once the database answers again, the dispatcher that lost the answer hands back
-- what is still leased to it and not in its hands (p_keep), without counting the attempt. Only its own leases: p_node is
-- unique per dispatcher instance. Leased messages are few: found on outbox_messages_leased (0003).
CREATE FUNCTION outbox_release_orphans(p_node text, p_keep uuid[])
  RETURNS integer
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = public, pg_temp
  AS $$
  DECLARE
    released integer;
  BEGIN
    IF p_node IS NULL OR length(p_node) = 0 THEN
      RAISE EXCEPTION 'outbox_release_orphans: invalid arguments';
    END IF;
    UPDATE outbox_messages m
    SET status = 'Pending', locked_by = NULL, locked_until = NULL, attempts = greatest(m.attempts - 1, 0)
    WHERE m.status = 'Processing' AND m.locked_by = p_node AND NOT (m.id = ANY(coalesce(p_keep, '{}')))
      AND NOT EXISTS (SELECT 1 FROM tenant_placements p WHERE p.tenant = m.tenant_id AND p.state IN ('Frozen', 'Moved'));
    GET DIAGNOSTICS released = ROW_COUNT;
    RETURN released;
  END
  $$;
REVOKE ALL ON FUNCTION outbox_release_orphans(text, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_release_orphans(text, uuid[]) TO dms_app;
