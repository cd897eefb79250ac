-- Share links (issue 16, item 8): a public, unguessable link to one version of a document, for people outside the
-- tenant. Only the SHA-256 of the token is stored (the token is shown once, at creation), and the password, when
-- there is one, as a PasswordHasher hash.
CREATE TABLE share_links (
  tenant_id       uuid NOT NULL,
  id              uuid NOT NULL,
  document_id     uuid NOT NULL,
  version_number  integer NOT NULL,
  token_hash      bytea NOT NULL CHECK (length(token_hash) = 32),
  password_hash   text,
  expires_at      timestamptz NOT NULL,
  max_downloads   integer CHECK (max_downloads > 0),
  downloads       integer NOT NULL DEFAULT 0 CHECK (downloads >= 0),
  created_at      timestamptz NOT NULL,
  created_by      uuid NOT NULL,
  revoked_at      timestamptz,
  revoked_by      uuid,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id),
  FOREIGN KEY (tenant_id, document_id, version_number) REFERENCES document_versions (tenant_id, document_id, number),
  -- The download limit is held by the row itself, whatever the concurrency (the UPDATE that counts checks it too).
  CHECK (max_downloads IS NULL OR downloads <= max_downloads)
);
CREATE INDEX share_links_document ON share_links (tenant_id, document_id, created_at DESC);

-- The tenant's sharing settings (no row: the node's defaults, Dms:Sharing:*).
CREATE TABLE share_settings (
  tenant_id   uuid PRIMARY KEY REFERENCES tenants (id),
  enabled     boolean NOT NULL,
  max_days    integer NOT NULL CHECK (max_days BETWEEN 1 AND 3650),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  updated_by  uuid
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['share_links', 'share_settings']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;
-- Links are revoked, never deleted: the audit trail refers to them.
GRANT SELECT, INSERT ON share_links TO dms_app;
GRANT SELECT, INSERT, UPDATE ON share_settings TO dms_app;

-- A public request knows only the token, and row-level security (forced, so the owner too) hides every link until a
-- tenant is set. As with document_search (ADR 0016), the way across is a guarded table: no RLS, no privilege at all
-- for the runtime role, filled by a definer trigger in the same transaction as the link, read only through the
-- definer function below, which answers which tenant and link a token hash belongs to and nothing else. The
-- application then enters that tenant and reads the link under RLS.
CREATE TABLE share_link_tokens (
  token_hash  bytea PRIMARY KEY CHECK (length(token_hash) = 32),
  tenant_id   uuid NOT NULL,
  share_id    uuid NOT NULL,
  FOREIGN KEY (tenant_id, share_id) REFERENCES share_links (tenant_id, id)
);
REVOKE ALL ON share_link_tokens FROM PUBLIC;

CREATE FUNCTION share_link_tokens_sync() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
  BEGIN
    INSERT INTO share_link_tokens (token_hash, tenant_id, share_id) VALUES (NEW.token_hash, NEW.tenant_id, NEW.id);
    RETURN NULL;
  END
  $$;
REVOKE ALL ON FUNCTION share_link_tokens_sync() FROM PUBLIC;
CREATE TRIGGER share_link_tokens_sync AFTER INSERT ON share_links FOR EACH ROW EXECUTE FUNCTION share_link_tokens_sync();
-- The token never changes after the insert: only the counter and the revocation do.
GRANT UPDATE (downloads, revoked_at, revoked_by) ON share_links TO dms_app;

CREATE FUNCTION share_link_lookup(p_token_hash bytea)
  RETURNS TABLE (tenant_id uuid, share_id uuid)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$ SELECT t.tenant_id, t.share_id FROM share_link_tokens t WHERE p_token_hash IS NOT NULL AND length(p_token_hash) = 32 AND t.token_hash = p_token_hash $$;
REVOKE ALL ON FUNCTION share_link_lookup(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION share_link_lookup(bytea) TO dms_app;
