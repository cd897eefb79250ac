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
