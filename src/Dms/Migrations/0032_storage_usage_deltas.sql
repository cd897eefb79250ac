-- The storage counter stops serialising a tenant's uploads (issue 18 item 1, ADR 0039 amending ADR 0032). The triggers
-- of migration 0029 updated the tenant's storage_usage row, so the version insert early in an upload's last transaction
-- held that row locked until the commit and every other upload of the tenant queued behind it. They now append a delta
-- row instead (an insert: no row anyone else waits for). The counter is the base row plus the tenant's deltas; a fold
-- moves the deltas into the base row in one short transaction, under the base row's lock (storage_usage_fold below).
-- Reservations still lock the base row to check the quota (StorageUsage.ReserveAsync): they are the only writes that
-- make used + reserved grow, so they still see each other one after another.

CREATE TABLE storage_usage_deltas (
  tenant_id       uuid NOT NULL REFERENCES tenants (id),
  used_delta      bigint NOT NULL,
  reserved_delta  bigint NOT NULL
);
-- Readers sum a tenant's deltas and the fold deletes them: both by tenant.
CREATE INDEX storage_usage_deltas_tenant ON storage_usage_deltas (tenant_id);

-- Same name and arguments as in 0029, so every trigger keeps calling it. The base row is created on first use (the
-- reservation and the fold lock it, and the usage report reads it), by a plain read first: once it exists, adding
-- takes no lock on it. A zero delta is not worth a row.
CREATE OR REPLACE FUNCTION storage_usage_add(tenant uuid, used bigint, reserved bigint) RETURNS void
  LANGUAGE plpgsql
  AS $$
  BEGIN
    IF used = 0 AND reserved = 0 THEN
      RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM storage_usage WHERE tenant_id = tenant) THEN
      INSERT INTO storage_usage (tenant_id) VALUES (tenant) ON CONFLICT (tenant_id) DO NOTHING;
    END IF;
    INSERT INTO storage_usage_deltas (tenant_id, used_delta, reserved_delta) VALUES (tenant, used, reserved);
  END
  $$;

-- Moves the tenant's committed deltas into its base row and returns how many it moved. Locks the base row first, then
-- deletes the deltas: every fold takes the same locks in the same order, and nobody else locks a delta row, so folds
-- queue on the base row and never deadlock. Deltas committed after the DELETE's snapshot stay for the next fold. The
-- base row's CHECKs (>= 0) judge the sum: a counting bug fails the fold loudly (23514) instead of drifting, and the
-- deltas stay where they were.
CREATE FUNCTION storage_usage_fold(tenant uuid) RETURNS bigint
  LANGUAGE plpgsql
  AS $$
  DECLARE
    moved bigint;
    used bigint;
    reserved bigint;
  BEGIN
    INSERT INTO storage_usage (tenant_id) VALUES (tenant) ON CONFLICT (tenant_id) DO NOTHING;
    PERFORM 1 FROM storage_usage WHERE tenant_id = tenant FOR UPDATE;
    WITH gone AS (DELETE FROM storage_usage_deltas WHERE tenant_id = tenant RETURNING used_delta, reserved_delta)
    SELECT count(*), coalesce(sum(used_delta), 0)::bigint, coalesce(sum(reserved_delta), 0)::bigint INTO moved, used, reserved FROM gone;
    IF moved > 0 THEN
      UPDATE storage_usage SET used_bytes = used_bytes + used, reserved_bytes = reserved_bytes + reserved WHERE tenant_id = tenant;
    END IF;
    RETURN moved;
  END
  $$;

ALTER TABLE storage_usage_deltas ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage_usage_deltas FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON storage_usage_deltas USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, DELETE ON storage_usage_deltas TO dms_app;
