-- The database as the last wall: nothing the runtime role can set widens its view beyond one tenant, and
-- the audit trail is appended through one function only (ADR 0012).

-- 1. Outbox: the dispatcher's cross-tenant view was a setting any session could turn on
--    (app.outbox_dispatcher). Now it is a claim function running as the schema owner; the runtime role's
--    policy is the plain tenant one, like every other table's.
DROP POLICY tenant_isolation ON outbox_messages;
CREATE POLICY tenant_isolation ON outbox_messages USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- Row-level security is forced on the owner too, so the functions below (and operators' `outbox` CLI verbs,
-- which connect as the owner) need a policy of their own. It names the role running this migration: the
-- owner of the schema, never the runtime role (DatabaseStartup refuses a runtime role that bypasses RLS).
DO $$
BEGIN
  EXECUTE format('CREATE POLICY schema_owner ON outbox_messages TO %I USING (true) WITH CHECK (true)', current_user);
END
$$;

-- Dead-letters messages whose lease expired during their last allowed attempt (they most likely took their
-- node down), then leases a batch of due messages of every tenant to p_node. Only due messages, and only
-- by leasing them: no query of the runtime role can read another tenant's rows.
CREATE FUNCTION outbox_claim(p_node text, p_batch integer, p_lease interval, p_max_attempts integer)
  RETURNS TABLE (id uuid, tenant_id uuid, type text, payload text, attempts integer)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = public, pg_temp
  AS $$
  #variable_conflict use_column
  BEGIN
    IF p_node IS NULL OR length(p_node) = 0 OR p_batch NOT BETWEEN 1 AND 1000 OR p_lease <= interval '0' THEN
      RAISE EXCEPTION 'outbox_claim: invalid arguments';
    END IF;
    UPDATE outbox_messages m
    SET status = 'Dead', locked_by = NULL, locked_until = NULL,
        last_error = 'The lease expired during attempt ' || m.attempts || ' (the node stopped while handling it); not retried.'
    WHERE m.status = 'Processing' AND m.locked_until < now() AND m.attempts >= p_max_attempts;
    RETURN QUERY
      WITH due AS (
        SELECT d.id FROM outbox_messages d
        WHERE (d.status = 'Pending' AND d.available_at <= now()) OR (d.status = 'Processing' AND d.locked_until < now())
        ORDER BY d.available_at, d.id
        LIMIT p_batch
        FOR UPDATE SKIP LOCKED)
      UPDATE outbox_messages m
      SET status = 'Processing', locked_by = p_node, locked_until = now() + p_lease, attempts = m.attempts + 1
      FROM due WHERE m.id = due.id
      RETURNING m.id, m.tenant_id, m.type, m.payload::text, m.attempts;
  END
  $$;
REVOKE ALL ON FUNCTION outbox_claim(text, integer, interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_claim(text, integer, interval, integer) TO dms_app;

-- 2. Audit: the runtime role could insert events and move chain heads itself, so a compromised application
--    could append well-chained forgeries. audit_append now runs as the owner, and is the only way in.
ALTER FUNCTION audit_append(text, uuid, text, text, text, text, jsonb, text, text, text)
  SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE ALL ON FUNCTION audit_append(text, uuid, text, text, text, text, jsonb, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_append(text, uuid, text, text, text, text, jsonb, text, text, text) TO dms_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_events FROM dms_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_heads FROM dms_app;
