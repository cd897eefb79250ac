-- Upload sessions track every blob written before a version row references it: direct uploads
-- (client PUTs to a presigned URL, then completes) and streamed uploads (the API writes while it reads).
-- Reconciliation treats the keys of Pending sessions as referenced, so it never deletes a blob whose
-- row is about to be written, and removes what expired, aborted or failed sessions left behind.

CREATE TABLE upload_sessions (
  id                     uuid PRIMARY KEY,
  tenant_id              uuid NOT NULL,
  created_by             uuid NOT NULL,
  kind                   text NOT NULL CHECK (kind IN ('Direct', 'Stream')),
  status                 text NOT NULL CHECK (status IN ('Pending', 'Completed', 'Aborted', 'Expired', 'Failed')),
  file_name              text NOT NULL,
  declared_size          bigint CHECK (declared_size >= 0),
  declared_sha256        text CHECK (declared_sha256 ~ '^[0-9a-f]{64}$'),
  declared_content_type  text,
  -- Where the client uploads to, and the server-only key the verified blob is moved to.
  staging_key            text NOT NULL,
  final_key              text NOT NULL,
  document_id            uuid NOT NULL,
  version_id             uuid NOT NULL,
  multipart_upload_id    text,
  part_size              bigint,
  part_count             integer,
  failure_code           text,
  created_at             timestamptz NOT NULL DEFAULT now(),
  expires_at             timestamptz NOT NULL,
  finished_at            timestamptz,
  -- Set once the blobs of an Aborted, Expired or Failed session are known to be gone.
  cleaned_at             timestamptz,
  FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
);
CREATE INDEX upload_sessions_pending ON upload_sessions (tenant_id, expires_at) WHERE status = 'Pending';
CREATE INDEX upload_sessions_uncleaned ON upload_sessions (tenant_id) WHERE status IN ('Aborted', 'Expired', 'Failed') AND cleaned_at IS NULL;
CREATE INDEX upload_sessions_staging_key ON upload_sessions (tenant_id, staging_key);
CREATE INDEX upload_sessions_final_key ON upload_sessions (tenant_id, final_key);

ALTER TABLE upload_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE upload_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON upload_sessions
  USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

GRANT SELECT, INSERT, UPDATE ON upload_sessions TO dms_app;
