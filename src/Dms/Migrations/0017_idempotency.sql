-- Idempotency-Key (issue 15): the first answer to a POST or PATCH made with a key, kept for its retention so a retry
-- with the same key and the same request gets it back instead of running again. Per tenant and user; Platform owns it.
CREATE TABLE idempotency_keys (
  tenant_id     uuid NOT NULL REFERENCES tenants (id),
  user_id       uuid NOT NULL,
  key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  state         text NOT NULL CHECK (state IN ('InProgress', 'Completed')),
  -- The request holding the key (a fresh id per request) and until when; renewed while it runs.
  owner_id      uuid NOT NULL,
  locked_until  timestamptz,
  -- Set when Completed: SHA-256 of method, path, query, media type, If-Match and body; the status; the answer's headers
  -- and body encrypted with the app's data-protection keys (NULL when too large to keep).
  fingerprint   bytea,
  status_code   integer,
  response      bytea,
  created_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, user_id, key),
  CHECK (state <> 'Completed' OR (fingerprint IS NOT NULL AND status_code IS NOT NULL))
);
-- The cleanup pass, tenant by tenant.
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (tenant_id, expires_at);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO dms_app;
