-- Approval governance: replace/delete requests decided by admins, executed through a transactional
-- outbox; soft delete with restore, retention purge and legal hold; in-app notifications.

ALTER TABLE documents
  ADD COLUMN legal_hold          boolean NOT NULL DEFAULT false,
  ADD COLUMN legal_hold_reason   text,
  ADD COLUMN deleted_at          timestamptz,
  ADD COLUMN deleted_by          uuid,
  ADD COLUMN purge_requested_at  timestamptz,
  ADD COLUMN purged_at           timestamptz;
ALTER TABLE documents ADD CONSTRAINT documents_status CHECK (status IN ('Active', 'PendingDelete', 'PendingReplace', 'Deleted', 'Purged'));
CREATE INDEX documents_trash ON documents (tenant_id, deleted_at) WHERE status = 'Deleted';

CREATE TABLE approval_requests (
  id                   uuid PRIMARY KEY,
  tenant_id            uuid NOT NULL,
  document_id          uuid NOT NULL,
  type                 text NOT NULL CHECK (type IN ('Delete', 'Replace')),
  status               text NOT NULL CHECK (status IN ('Pending', 'Approved', 'Rejected', 'Cancelled', 'Expired', 'Executed', 'Failed')),
  requested_by         uuid NOT NULL,
  reason               text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
  based_on_version     integer NOT NULL,
  -- Replace only: the new content, stored under a key only the server writes, and what it is.
  staged_blob_key      text,
  staged_version_id    uuid,
  staged_size          bigint,
  staged_sha256        text,
  staged_content_type  text,
  staged_file_name     text,
  decided_by           uuid,
  decided_at           timestamptz,
  decision_comment     text,
  executed_at          timestamptz,
  failure              text,
  created_at           timestamptz NOT NULL DEFAULT now(),
  expires_at           timestamptz NOT NULL,
  UNIQUE (tenant_id, id),
  -- Documents are never deleted (purge leaves a tombstone), so the history keeps its document.
  FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id),
  FOREIGN KEY (tenant_id, requested_by) REFERENCES users (tenant_id, id),
  CHECK (type = 'Delete' OR staged_blob_key IS NOT NULL)
);
-- At most one open (Pending or Approved-not-yet-executed) request per document, whatever the concurrency.
CREATE UNIQUE INDEX approval_requests_one_open ON approval_requests (tenant_id, document_id) WHERE status IN ('Pending', 'Approved');
CREATE INDEX approval_requests_queue ON approval_requests (tenant_id, created_at DESC, id DESC);
CREATE INDEX approval_requests_document ON approval_requests (tenant_id, document_id, created_at DESC);
CREATE INDEX approval_requests_requester ON approval_requests (tenant_id, requested_by, created_at DESC);
CREATE INDEX approval_requests_expiring ON approval_requests (tenant_id, expires_at) WHERE status = 'Pending';
CREATE INDEX approval_requests_staged ON approval_requests (tenant_id, staged_blob_key) WHERE staged_blob_key IS NOT NULL;

-- Every side effect of a state change, written in the same transaction as the change.
CREATE TABLE outbox_messages (
  id            uuid PRIMARY KEY,
  tenant_id     uuid NOT NULL REFERENCES tenants (id),
  type          text NOT NULL,
  payload       jsonb NOT NULL,
  status        text NOT NULL DEFAULT 'Pending' CHECK (status IN ('Pending', 'Processing', 'Done', 'Dead')),
  attempts      integer NOT NULL DEFAULT 0,
  available_at  timestamptz NOT NULL DEFAULT now(),
  locked_by     text,
  locked_until  timestamptz,
  last_error    text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  processed_at  timestamptz
);
CREATE INDEX outbox_messages_ready ON outbox_messages (available_at) WHERE status = 'Pending';
CREATE INDEX outbox_messages_leased ON outbox_messages (locked_until) WHERE status = 'Processing';
CREATE INDEX outbox_messages_tenant ON outbox_messages (tenant_id, status, created_at DESC);

CREATE TABLE notifications (
  id            uuid PRIMARY KEY,
  tenant_id     uuid NOT NULL,
  user_id       uuid NOT NULL,
  kind          text NOT NULL,
  title         text NOT NULL,
  body          text NOT NULL,
  document_id   uuid,
  approval_id   uuid,
  dedupe_key    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  read_at       timestamptz,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
  -- Handlers may run twice; the second insert of the same notification is a no-op.
  UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX notifications_inbox ON notifications (tenant_id, user_id, created_at DESC, id DESC);
CREATE INDEX notifications_unread ON notifications (tenant_id, user_id) WHERE read_at IS NULL;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['approval_requests', 'notifications']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END
$$;

-- The dispatcher claims messages of every tenant, then restores each message's tenant to handle it.
-- It marks its transaction with app.outbox_dispatcher; everything else sees only its own tenant's rows.
ALTER TABLE outbox_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox_messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON outbox_messages
  USING (tenant_id = app_tenant_id() OR current_setting('app.outbox_dispatcher', true) = 'on')
  WITH CHECK (tenant_id = app_tenant_id() OR current_setting('app.outbox_dispatcher', true) = 'on');

GRANT SELECT, INSERT, UPDATE ON approval_requests, outbox_messages, notifications TO dms_app;
