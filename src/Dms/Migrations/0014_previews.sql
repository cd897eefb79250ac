-- Previews and thumbnails of every version (issue 12), rendered by the worker on the outbox's background lane
-- (document.render_previews, queued with each version). One row per version and kind; no row yet means the
-- message is still queued. The blob key is written before the blob, so storage reconciliation can tell a
-- rendition's blob from an orphan.
CREATE TABLE version_renditions (
  tenant_id       uuid NOT NULL,
  document_id     uuid NOT NULL,
  version_number  integer NOT NULL,
  kind            text NOT NULL CHECK (kind IN ('Thumbnail', 'Preview')),
  status          text NOT NULL DEFAULT 'Pending' CHECK (status IN ('Pending', 'Ready', 'Failed', 'Unsupported')),
  blob_key        text,
  content_type    text,
  size            bigint,
  error           text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  rendered_at     timestamptz,
  PRIMARY KEY (tenant_id, document_id, version_number, kind),
  FOREIGN KEY (tenant_id, document_id, version_number) REFERENCES document_versions (tenant_id, document_id, number),
  CHECK (status <> 'Ready' OR (blob_key IS NOT NULL AND content_type IS NOT NULL AND size IS NOT NULL))
);
-- Reconciliation asks "is this blob a rendition's?" by key.
CREATE INDEX version_renditions_blob_key ON version_renditions (tenant_id, blob_key) WHERE blob_key IS NOT NULL;
ALTER TABLE version_renditions ENABLE ROW LEVEL SECURITY;
ALTER TABLE version_renditions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON version_renditions USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON version_renditions TO dms_app;

-- Versions stored before previews existed get their rendering queued once, like a new version's, so "no row"
-- always means "queued" and never "never will be". Purged documents have no file left to render.
INSERT INTO outbox_messages (id, tenant_id, type, payload)
SELECT gen_random_uuid(), v.tenant_id, 'document.render_previews', jsonb_build_object('documentId', v.document_id, 'number', v.number)
FROM document_versions v
JOIN documents d ON d.tenant_id = v.tenant_id AND d.id = v.document_id
WHERE d.status <> 'Purged';
