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
-- Tokens are unique across tenants: the public lookup starts from the token alone.
CREATE UNIQUE INDEX share_links_token ON share_links (token_hash);
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
GRANT SELECT, INSERT, UPDATE ON share_links TO dms_app;
GRANT SELECT, INSERT, UPDATE ON share_settings TO dms_app;

-- A public request knows only the token: this answers which tenant and link a token hash belongs to, and nothing
-- else. The application then enters that tenant and reads the link under row-level security (as ADR 0012/0016:
-- a definer function is the only way across the wall, and it reveals the least it can).
CREATE FUNCTION share_link_lookup(p_token_hash bytea)
  RETURNS TABLE (tenant_id uuid, share_id uuid)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$ SELECT s.tenant_id, s.id FROM share_links s WHERE p_token_hash IS NOT NULL AND length(p_token_hash) = 32 AND s.token_hash = p_token_hash $$;
REVOKE ALL ON FUNCTION share_link_lookup(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION share_link_lookup(bytea) TO dms_app;
