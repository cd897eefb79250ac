-- Where each tenant lives (issue 18 item 4, ADR 0036). No row: the tenant is at home in this (the main) database.
-- A row says a move is under way (Frozen: writes wait, the copy finishes) or done (Moved: the tenant's database is at
-- host/port/database). Only the address is stored, never a credential: every node connects with its own runtime
-- credentials (ConnectionStrings__Dms) with Host, Port and Database replaced, so the roles and passwords of the target
-- server are the same as the main one's. Global (not per tenant): every node reads the whole directory into its cache.
CREATE TABLE tenant_placements (
  tenant      uuid PRIMARY KEY REFERENCES tenants (id),
  state       text NOT NULL CHECK (state IN ('Home', 'Frozen', 'Moved')),
  host        text NOT NULL,
  port        integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
  database    text NOT NULL,
  changed_by  text NOT NULL,
  changed_at  timestamptz NOT NULL
);
-- The runtime role reads the move state in every write transaction (Db.InTenantAsync); only the mover (the owner) writes.
GRANT SELECT ON tenant_placements TO dms_app;

-- The outbox rows of a moved tenant stay behind in this database with the rest of its rows, and its copies run in its
-- new database: the claim here leaves them alone, and those of a tenant frozen for a move too (nothing of it may change
-- once the mover copied the last changes). In a tenant's own database there are no directory rows: it claims everything.
CREATE OR REPLACE FUNCTION outbox_claim(p_node text, p_batch integer, p_lease interval, p_max_attempts integer, p_types text[], p_only boolean)
  RETURNS TABLE (id uuid, tenant_id uuid, type text, payload text, attempts integer)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = public, pg_temp
  AS $$
  #variable_conflict use_column
  BEGIN
    IF p_node IS NULL OR length(p_node) = 0 OR p_batch NOT BETWEEN 1 AND 1000 OR p_lease <= interval '0' OR p_only IS NULL THEN
      RAISE EXCEPTION 'outbox_claim: invalid arguments';
    END IF;
    UPDATE outbox_messages m
    SET status = 'Dead', locked_by = NULL, locked_until = NULL,
        last_error = 'The lease expired during attempt ' || m.attempts || ' (the node stopped while handling it); not retried.'
    WHERE m.status = 'Processing' AND m.locked_until < now() AND m.attempts >= p_max_attempts
      AND (m.type = ANY(coalesce(p_types, '{}'))) = p_only
      AND NOT EXISTS (SELECT 1 FROM tenant_placements p WHERE p.tenant = m.tenant_id AND p.state IN ('Frozen', 'Moved'));
    RETURN QUERY
      WITH due AS (
        SELECT d.id FROM outbox_messages d
        WHERE ((d.status = 'Pending' AND d.available_at <= now()) OR (d.status = 'Processing' AND d.locked_until < now()))
          AND (d.type = ANY(coalesce(p_types, '{}'))) = p_only
          AND NOT EXISTS (SELECT 1 FROM tenant_placements p WHERE p.tenant = d.tenant_id AND p.state IN ('Frozen', 'Moved'))
        ORDER BY d.available_at, d.id
        LIMIT p_batch
        FOR UPDATE SKIP LOCKED)
      UPDATE outbox_messages m
      SET status = 'Processing', locked_by = p_node, locked_until = now() + p_lease, attempts = m.attempts + 1
      FROM due WHERE m.id = due.id
      RETURNING m.id, m.tenant_id, m.type, m.payload::text, m.attempts;
  END
  $$;

-- The same for webhook deliveries and bulk job items (0018, 0024, unchanged but for the directory condition).
CREATE OR REPLACE FUNCTION webhook_claim(p_node text, p_batch integer, p_lease interval, p_per_endpoint integer, p_probe_every interval)
  RETURNS TABLE (id uuid, tenant_id uuid, endpoint_id uuid, event_id uuid, attempts integer)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = public, pg_temp
  AS $$
  #variable_conflict use_column
  DECLARE
    picked uuid[];
  BEGIN
    IF p_node IS NULL OR length(p_node) = 0 OR p_batch NOT BETWEEN 1 AND 1000 OR p_lease <= interval '0' OR p_per_endpoint < 1 THEN
      RAISE EXCEPTION 'webhook_claim: invalid arguments';
    END IF;
    WITH flight AS (
      SELECT f.tenant_id, f.endpoint_id, count(*) AS n FROM webhook_deliveries f
      WHERE f.status = 'Sending' AND f.locked_until >= now()
      GROUP BY f.tenant_id, f.endpoint_id
    ), due AS (
      SELECT d.id, d.tenant_id, d.endpoint_id, e.circuit, coalesce(fl.n, 0) AS in_flight,
             row_number() OVER (PARTITION BY d.tenant_id, d.endpoint_id ORDER BY d.available_at, d.id) AS rn,
             d.available_at
      FROM webhook_deliveries d
      JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
      LEFT JOIN flight fl ON fl.tenant_id = d.tenant_id AND fl.endpoint_id = d.endpoint_id
      WHERE ((d.status = 'Pending' AND d.available_at <= now()) OR (d.status = 'Sending' AND d.locked_until < now()))
        AND e.enabled
        AND (e.circuit = 'Closed' OR e.probe_at <= now())
        AND NOT EXISTS (SELECT 1 FROM tenant_placements p WHERE p.tenant = d.tenant_id AND p.state IN ('Frozen', 'Moved'))
    )
    SELECT array_agg(x.id) INTO picked FROM (
      SELECT due.id FROM due
      WHERE (due.circuit = 'Closed' AND due.rn + due.in_flight <= p_per_endpoint)
         OR (due.circuit = 'Open' AND due.rn = 1 AND due.in_flight = 0)
      ORDER BY due.available_at, due.id
      LIMIT p_batch) x;
    IF picked IS NULL THEN
      RETURN;
    END IF;
    RETURN QUERY
      WITH locked AS (
        SELECT l.id, l.tenant_id FROM webhook_deliveries l
        WHERE l.id = ANY(picked) AND (l.status = 'Pending' OR (l.status = 'Sending' AND l.locked_until < now()))
        FOR UPDATE SKIP LOCKED
      ), claimed AS (
        UPDATE webhook_deliveries d
        SET status = 'Sending', locked_by = p_node, locked_until = now() + p_lease, attempts = d.attempts + 1
        FROM locked WHERE d.tenant_id = locked.tenant_id AND d.id = locked.id
        RETURNING d.id, d.tenant_id, d.endpoint_id, d.event_id, d.attempts
      ), probes AS (
        UPDATE webhook_endpoints e SET probe_at = now() + p_probe_every
        FROM claimed WHERE e.tenant_id = claimed.tenant_id AND e.id = claimed.endpoint_id AND e.circuit = 'Open'
      )
      SELECT claimed.id, claimed.tenant_id, claimed.endpoint_id, claimed.event_id, claimed.attempts FROM claimed;
  END
  $$;
CREATE OR REPLACE FUNCTION bulk_claim(p_node text, p_batch integer, p_lease interval)
  RETURNS TABLE (tenant_id uuid, job_id uuid, seq integer, document_id uuid)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = public, pg_temp
  AS $$
  #variable_conflict use_column
  DECLARE
    v_tenant uuid;
    v_job uuid;
  BEGIN
    IF p_node IS NULL OR length(p_node) = 0 OR p_batch NOT BETWEEN 1 AND 1000 OR p_lease <= interval '0' THEN
      RAISE EXCEPTION 'bulk_claim: invalid arguments';
    END IF;
    SELECT j.tenant_id, j.id INTO v_tenant, v_job FROM bulk_jobs j
    WHERE j.status IN ('Queued', 'Running')
      AND NOT EXISTS (SELECT 1 FROM tenant_placements p WHERE p.tenant = j.tenant_id AND p.state IN ('Frozen', 'Moved'))
      AND EXISTS (SELECT 1 FROM bulk_job_items i WHERE i.tenant_id = j.tenant_id AND i.job_id = j.id AND i.outcome IS NULL
                  AND (i.locked_until IS NULL OR i.locked_until < now()))
    ORDER BY j.created_at, j.id
    LIMIT 1;
    IF v_job IS NULL THEN
      RETURN;
    END IF;
    UPDATE bulk_jobs j SET status = 'Running', started_at = coalesce(j.started_at, now())
    WHERE j.tenant_id = v_tenant AND j.id = v_job AND j.status = 'Queued';
    RETURN QUERY
      WITH picked AS (
        SELECT i.tenant_id, i.job_id, i.seq FROM bulk_job_items i
        WHERE i.tenant_id = v_tenant AND i.job_id = v_job AND i.outcome IS NULL AND (i.locked_until IS NULL OR i.locked_until < now())
        ORDER BY i.seq
        LIMIT p_batch
        FOR UPDATE SKIP LOCKED
      )
      UPDATE bulk_job_items i SET locked_by = p_node, locked_until = now() + p_lease, attempts = i.attempts + 1
      FROM picked WHERE i.tenant_id = picked.tenant_id AND i.job_id = picked.job_id AND i.seq = picked.seq
      RETURNING i.tenant_id, i.job_id, i.seq, i.document_id;
  END
  $$;
