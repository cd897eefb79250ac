-- Check-out and comments (issue 16 items 6 and 7), both owned by Documents.

-- One row per checked-out document. A row whose expires_at has passed is no lock at all: every reader compares it
-- with the app's clock, and the next check-out simply overwrites it (no job has to release anything).
-- holder_email is the holder's address when they took it, so "who holds it" costs no join with users (Access).
CREATE TABLE document_checkouts (
  tenant_id       uuid NOT NULL,
  document_id     uuid NOT NULL,
  user_id         uuid NOT NULL,
  holder_email    text NOT NULL,
  checked_out_at  timestamptz NOT NULL,
  expires_at      timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, document_id),
  FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
  CHECK (expires_at > checked_out_at)
);

-- Plain-text comments. Deleting one removes the row (the audit trail keeps what was said and by whom).
CREATE TABLE document_comments (
  tenant_id     uuid NOT NULL,
  id            uuid NOT NULL,
  document_id   uuid NOT NULL,
  author_id     uuid NOT NULL,
  author_email  text NOT NULL,
  text          text NOT NULL CHECK (length(text) BETWEEN 1 AND 4000),
  created_at    timestamptz NOT NULL,
  edited_at     timestamptz,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id),
  FOREIGN KEY (tenant_id, author_id) REFERENCES users (tenant_id, id)
);
-- A document's comments in order, and its count.
CREATE INDEX document_comments_document ON document_comments (tenant_id, document_id, created_at, id);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['document_checkouts', 'document_comments']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON document_checkouts, document_comments TO dms_app;
