-- Foundation schema: tenants, identity, workspaces, folders, documents and their immutable versions.
-- Runs as the schema owner. The application connects as a member of dms_app, which gets only the
-- privileges granted below and is subject to row-level security on every tenant-owned table.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dms_app') THEN
    CREATE ROLE dms_app NOLOGIN;
  END IF;
END
$$;

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The tenant of the current transaction; NULL (so: no rows) when the application did not set it.
CREATE FUNCTION app_tenant_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;

CREATE TABLE tenants (
  id          uuid PRIMARY KEY,
  slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id                uuid PRIMARY KEY,
  tenant_id         uuid NOT NULL REFERENCES tenants (id),
  email             text NOT NULL,
  email_normalized  text NOT NULL,
  display_name      text NOT NULL,
  password_hash     text NOT NULL,
  role              text NOT NULL CHECK (role IN ('Admin', 'Member', 'Viewer', 'Auditor')),
  disabled          boolean NOT NULL DEFAULT false,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id),
  UNIQUE (tenant_id, email_normalized)
);

CREATE TABLE refresh_tokens (
  id           uuid PRIMARY KEY,
  tenant_id    uuid NOT NULL,
  user_id      uuid NOT NULL,
  family_id    uuid NOT NULL,
  token_hash   bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  used_at      timestamptz,
  revoked_at   timestamptz,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
  UNIQUE (tenant_id, token_hash)
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (tenant_id, user_id);

-- A workspace is a department or project scope; per-workspace member roles join it later
-- through a (tenant_id, workspace_id, user_id, role) table.
CREATE TABLE workspaces (
  id           uuid PRIMARY KEY,
  tenant_id    uuid NOT NULL REFERENCES tenants (id),
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description  text,
  is_default   boolean NOT NULL DEFAULT false,
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   uuid,
  UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX workspaces_name ON workspaces (tenant_id, lower(name));
CREATE UNIQUE INDEX workspaces_one_default ON workspaces (tenant_id) WHERE is_default;

CREATE TABLE folders (
  id            uuid PRIMARY KEY,
  tenant_id     uuid NOT NULL,
  workspace_id  uuid NOT NULL,
  parent_id     uuid,
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
  created_at    timestamptz NOT NULL DEFAULT now(),
  created_by    uuid NOT NULL,
  UNIQUE (tenant_id, id),
  -- Composite keys keep every reference inside one tenant, whatever the application sends.
  FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id),
  FOREIGN KEY (tenant_id, parent_id) REFERENCES folders (tenant_id, id)
);
CREATE UNIQUE INDEX folders_sibling_name ON folders (tenant_id, workspace_id, parent_id, lower(name)) NULLS NOT DISTINCT;

CREATE TABLE documents (
  id               uuid PRIMARY KEY,
  tenant_id        uuid NOT NULL,
  workspace_id     uuid NOT NULL,
  folder_id        uuid,
  title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
  description      text,
  status           text NOT NULL DEFAULT 'Active',
  tags             text[] NOT NULL DEFAULT '{}',
  current_version  integer NOT NULL,
  row_version      integer NOT NULL DEFAULT 1,
  created_at       timestamptz NOT NULL DEFAULT now(),
  created_by       uuid NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  updated_by       uuid NOT NULL,
  UNIQUE (tenant_id, id),
  FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id),
  FOREIGN KEY (tenant_id, folder_id) REFERENCES folders (tenant_id, id)
);
-- Keyset pagination order of GET /documents.
CREATE INDEX documents_recent ON documents (tenant_id, created_at DESC, id DESC);
CREATE INDEX documents_folder ON documents (tenant_id, folder_id, created_at DESC, id DESC);
CREATE INDEX documents_workspace ON documents (tenant_id, workspace_id, created_at DESC, id DESC);
-- Case-insensitive substring search on title (ILIKE '%q%').
CREATE INDEX documents_title_trgm ON documents USING gin (title gin_trgm_ops);
CREATE INDEX documents_tags ON documents USING gin (tags);

-- Versions are immutable: the runtime role may insert and read them, never change them.
CREATE TABLE document_versions (
  id            uuid PRIMARY KEY,
  tenant_id     uuid NOT NULL,
  document_id   uuid NOT NULL,
  number        integer NOT NULL CHECK (number > 0),
  blob_key      text NOT NULL,
  size          bigint NOT NULL CHECK (size >= 0),
  sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  content_type  text NOT NULL,
  file_name     text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  created_by    uuid NOT NULL,
  FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id),
  UNIQUE (tenant_id, document_id, number)
);
CREATE INDEX document_versions_blob ON document_versions (tenant_id, blob_key);

-- Row-level security: a forgotten tenant filter returns nothing instead of another tenant's rows.
-- FORCE makes the policies apply to the table owner too.
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['users', 'refresh_tokens', 'workspaces', 'folders', 'documents', 'document_versions']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END
$$;

GRANT USAGE ON SCHEMA public TO dms_app;
GRANT EXECUTE ON FUNCTION app_tenant_id() TO dms_app;
GRANT SELECT, INSERT ON tenants TO dms_app;
GRANT SELECT, INSERT, UPDATE ON users, workspaces, folders, documents, refresh_tokens TO dms_app;
GRANT SELECT, INSERT ON document_versions TO dms_app;
