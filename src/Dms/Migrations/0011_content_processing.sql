-- Content processing after each new version (issue 12): text extraction and previews run on the outbox's
-- background lane, so a burst of OCR never queues in front of approvals and notifications.

-- 1. Outbox lanes: each dispatcher claims either only the given types (p_only) or every other type. The
--    expired-lease dead-lettering applies to the lane's own types only (lanes have different leases).
DROP FUNCTION outbox_claim(text, integer, interval, integer);
CREATE FUNCTION outbox_claim(p_node text, p_batch integer, p_lease interval, p_max_attempts integer, p_types text[], p_only boolean)
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
      AND (m.type = ANY(coalesce(p_types, '{}'))) = p_only;
    RETURN QUERY
      WITH due AS (
        SELECT d.id FROM outbox_messages d
        WHERE ((d.status = 'Pending' AND d.available_at <= now()) OR (d.status = 'Processing' AND d.locked_until < now()))
          AND (d.type = ANY(coalesce(p_types, '{}'))) = p_only
        ORDER BY d.available_at, d.id
        LIMIT p_batch
        FOR UPDATE SKIP LOCKED)
      UPDATE outbox_messages m
      SET status = 'Processing', locked_by = p_node, locked_until = now() + p_lease, attempts = m.attempts + 1
      FROM due WHERE m.id = due.id
      RETURNING m.id, m.tenant_id, m.type, m.payload::text, m.attempts;
  END
  $$;
REVOKE ALL ON FUNCTION outbox_claim(text, integer, interval, integer, text[], boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_claim(text, integer, interval, integer, text[], boolean) TO dms_app;

-- 2. The text of each version (Documents): written Pending with the version, filled by the extraction handler.
--    The document page says why a version has no text; search indexes the current version's content.
CREATE TABLE version_texts (
  tenant_id       uuid NOT NULL,
  document_id     uuid NOT NULL,
  version_number  integer NOT NULL,
  status          text NOT NULL DEFAULT 'Pending',
  method          text,
  content         text,
  truncated       boolean NOT NULL DEFAULT false,
  error           text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  extracted_at    timestamptz,
  PRIMARY KEY (tenant_id, document_id, version_number),
  FOREIGN KEY (tenant_id, document_id, version_number) REFERENCES document_versions (tenant_id, document_id, number)
);
ALTER TABLE version_texts ENABLE ROW LEVEL SECURITY;
ALTER TABLE version_texts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON version_texts USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON version_texts TO dms_app;
