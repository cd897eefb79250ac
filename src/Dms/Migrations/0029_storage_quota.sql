-- Storage quota exactly once (issue 17 item 3, ADR 0032). One counter row per tenant: used_bytes is the size of the
-- versions of its documents that are not purged (trash counts until purged), reserved_bytes the bytes that uploads
-- in progress (and replace requests waiting for a decision) hold. Both are kept by triggers from the rows they sum,
-- so no code path can forget them and they cannot drift. An upload locks the row to check its reservation against the
-- plan, so concurrent uploads queue on it for the few milliseconds of that transaction.

-- What a session holds against the quota: its upper bound while bytes arrive, the real size once stored, 0 once its
-- bytes became a version or were given up.
ALTER TABLE upload_sessions ADD COLUMN reserved_bytes bigint NOT NULL DEFAULT 0 CHECK (reserved_bytes >= 0);
-- Settling (a version appears) and the reconciler find the sessions that still hold bytes by these.
CREATE INDEX upload_sessions_reserved ON upload_sessions (tenant_id, version_id) WHERE reserved_bytes > 0;

CREATE TABLE storage_usage (
  tenant_id       uuid PRIMARY KEY REFERENCES tenants (id),
  used_bytes      bigint NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
  reserved_bytes  bigint NOT NULL DEFAULT 0 CHECK (reserved_bytes >= 0)
);

-- Adds to a tenant's counters, creating its row on first use (a tenant made after this migration has none yet). Not an
-- INSERT … ON CONFLICT DO UPDATE: the CHECKs would judge the proposed insert row (a negative delta) before the conflict.
CREATE FUNCTION storage_usage_add(tenant uuid, used bigint, reserved bigint) RETURNS void
  LANGUAGE plpgsql
  AS $$
  BEGIN
    UPDATE storage_usage SET used_bytes = used_bytes + used, reserved_bytes = reserved_bytes + reserved WHERE tenant_id = tenant;
    IF NOT FOUND THEN
      INSERT INTO storage_usage (tenant_id) VALUES (tenant) ON CONFLICT (tenant_id) DO NOTHING;
      UPDATE storage_usage SET used_bytes = used_bytes + used, reserved_bytes = reserved_bytes + reserved WHERE tenant_id = tenant;
    END IF;
  END
  $$;

-- A session that ends without its bytes becoming anything gives its reservation back in the same UPDATE that ends it.
CREATE FUNCTION upload_sessions_release() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    IF NEW.status IN ('Aborted', 'Expired', 'Failed') THEN
      NEW.reserved_bytes := 0;
    END IF;
    RETURN NEW;
  END
  $$;
CREATE TRIGGER upload_sessions_release BEFORE UPDATE OF status ON upload_sessions
  FOR EACH ROW WHEN (NEW.status IN ('Aborted', 'Expired', 'Failed')) EXECUTE FUNCTION upload_sessions_release();

CREATE FUNCTION upload_sessions_reserved_sync() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    IF TG_OP = 'INSERT' THEN
      PERFORM storage_usage_add(NEW.tenant_id, 0, NEW.reserved_bytes);
    ELSIF TG_OP = 'UPDATE' THEN
      PERFORM storage_usage_add(NEW.tenant_id, 0, NEW.reserved_bytes - OLD.reserved_bytes);
    ELSE
      PERFORM storage_usage_add(OLD.tenant_id, 0, -OLD.reserved_bytes);
    END IF;
    RETURN NULL;
  END
  $$;
CREATE TRIGGER upload_sessions_reserved_insert AFTER INSERT ON upload_sessions
  FOR EACH ROW WHEN (NEW.reserved_bytes <> 0) EXECUTE FUNCTION upload_sessions_reserved_sync();
CREATE TRIGGER upload_sessions_reserved_update AFTER UPDATE ON upload_sessions
  FOR EACH ROW WHEN (NEW.reserved_bytes <> OLD.reserved_bytes) EXECUTE FUNCTION upload_sessions_reserved_sync();
CREATE TRIGGER upload_sessions_reserved_delete AFTER DELETE ON upload_sessions
  FOR EACH ROW WHEN (OLD.reserved_bytes <> 0) EXECUTE FUNCTION upload_sessions_reserved_sync();

-- A version appears: its bytes count as used and the reservation of the session that brought them ends, in the
-- statement that inserts it (so in the transaction that commits the upload or carries out the replace request).
-- Per statement with a transition table: seeding fixtures insert thousands of versions in one statement.
CREATE FUNCTION document_versions_usage() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    UPDATE upload_sessions s SET reserved_bytes = 0
    FROM new_versions n
    WHERE s.tenant_id = n.tenant_id AND s.version_id = n.id AND s.reserved_bytes > 0;
    PERFORM storage_usage_add(t.tenant_id, t.bytes, 0)
    FROM (SELECT tenant_id, sum(size)::bigint AS bytes FROM new_versions GROUP BY tenant_id) t;
    RETURN NULL;
  END
  $$;
CREATE TRIGGER document_versions_usage AFTER INSERT ON document_versions
  REFERENCING NEW TABLE AS new_versions FOR EACH STATEMENT EXECUTE FUNCTION document_versions_usage();

-- Purge keeps the version rows as a tombstone and deletes their blobs: the bytes are freed when the document becomes Purged.
CREATE FUNCTION documents_purged_usage() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    PERFORM storage_usage_add(NEW.tenant_id, -coalesce((SELECT sum(size) FROM document_versions WHERE tenant_id = NEW.tenant_id AND document_id = NEW.id), 0)::bigint, 0);
    RETURN NULL;
  END
  $$;
CREATE TRIGGER documents_purged_usage AFTER UPDATE OF status ON documents
  FOR EACH ROW WHEN (NEW.status = 'Purged' AND OLD.status <> 'Purged') EXECUTE FUNCTION documents_purged_usage();

-- Backfill: what every tenant stores today (sessions in flight reserve nothing: they started before quotas existed).
-- FORCE would hide every row from the owner that runs migrations (no tenant is set): lifted for this transaction only.
ALTER TABLE documents NO FORCE ROW LEVEL SECURITY;
ALTER TABLE document_versions NO FORCE ROW LEVEL SECURITY;
INSERT INTO storage_usage (tenant_id, used_bytes, reserved_bytes)
SELECT t.id,
       coalesce((SELECT sum(v.size) FROM document_versions v JOIN documents d ON d.tenant_id = v.tenant_id AND d.id = v.document_id
                 WHERE v.tenant_id = t.id AND d.status <> 'Purged'), 0)::bigint,
       0
FROM tenants t;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
ALTER TABLE document_versions FORCE ROW LEVEL SECURITY;

ALTER TABLE storage_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON storage_usage USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON storage_usage TO dms_app;
