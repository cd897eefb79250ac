-- Bulk jobs (issue 16, item 3): one action over up to 10,000 documents, run in the background (ADR 0028). Owned by
-- the Documents module (Modules/Documents/Bulk).

-- A job. requester_role is the tenant role the requester had when the job was created: the worker acts as that user
-- (workspace membership is checked live, document by document). status moves Queued → Running → Done/Failed, or to
-- Canceled (BulkJobStates).
CREATE TABLE bulk_jobs (
  tenant_id       uuid NOT NULL REFERENCES tenants (id),
  id              uuid NOT NULL,
  action          text NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
  params          jsonb NOT NULL DEFAULT '{}',
  status          text NOT NULL DEFAULT 'Queued' CHECK (status IN ('Queued', 'Running', 'Done', 'Failed', 'Canceled')),
  requested_by    uuid NOT NULL,
  requester_role  text NOT NULL,
  requester_email text NOT NULL,
  total           integer NOT NULL CHECK (total BETWEEN 0 AND 100000),
  error           text,
  created_at      timestamptz NOT NULL,
  started_at      timestamptz,
  finished_at     timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX bulk_jobs_requester ON bulk_jobs (tenant_id, requested_by, created_at DESC);
CREATE INDEX bulk_jobs_created ON bulk_jobs (tenant_id, created_at DESC);
-- The claim looks for items of open jobs only.
CREATE INDEX bulk_jobs_open ON bulk_jobs (created_at) WHERE status IN ('Queued', 'Running');

-- One document of a job, in the order it was selected (seq). outcome is null until the item's result is recorded;
-- a worker leases pending items (locked_by, locked_until) and a lapsed lease lets another worker take them over.
CREATE TABLE bulk_job_items (
  tenant_id     uuid NOT NULL,
  job_id        uuid NOT NULL,
  seq           integer NOT NULL,
  document_id   uuid NOT NULL,
  outcome       text CHECK (outcome IN ('Done', 'Skipped', 'Failed')),
  reason        text,
  code          text,
  attempts      integer NOT NULL DEFAULT 0,
  locked_by     text,
  locked_until  timestamptz,
  finished_at   timestamptz,
  PRIMARY KEY (tenant_id, job_id, seq),
  FOREIGN KEY (tenant_id, job_id) REFERENCES bulk_jobs (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX bulk_job_items_pending ON bulk_job_items (tenant_id, job_id, seq) WHERE outcome IS NULL;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['bulk_jobs', 'bulk_job_items']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
    -- bulk_claim below runs as the schema owner, whom FORCE holds too (as for webhook_deliveries, 0018).
    EXECUTE format('CREATE POLICY schema_owner ON %I TO %I USING (true) WITH CHECK (true)', t, current_user);
  END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE ON bulk_jobs, bulk_job_items TO dms_app;

-- The worker's only cross-tenant access: lease up to p_batch pending items of one open job (the oldest job with
-- work first), pending meaning no result yet and no live lease. The job becomes Running. SKIP LOCKED lets several
-- workers share a job; a crashed worker's items come back when their lease lapses.
CREATE FUNCTION bulk_claim(p_node text, p_batch integer, p_lease interval)
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
REVOKE ALL ON FUNCTION bulk_claim(text, integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bulk_claim(text, integer, interval) TO dms_app;
