-- Approval policies (issue 13): user groups, a governance policy per workspace, delegation, and requests that
-- carry their policy's snapshot, their stage, the people assigned to decide each stage and the votes cast.

-- Groups of users (Access), usable as approvers. Deleting a group removes its memberships; a policy naming a
-- deleted group simply finds nobody through it.
CREATE TABLE user_groups (
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  id          uuid NOT NULL,
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  uuid,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX user_groups_name ON user_groups (tenant_id, lower(name));

CREATE TABLE user_group_members (
  tenant_id   uuid NOT NULL,
  group_id    uuid NOT NULL,
  user_id     uuid NOT NULL,
  added_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, group_id, user_id),
  FOREIGN KEY (tenant_id, group_id) REFERENCES user_groups (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX user_group_members_user ON user_group_members (tenant_id, user_id);

-- A workspace's governance policy (Approvals). No row: the tenant default (four-eyes by admins), which is what
-- every workspace had before policies existed. revision is the policy's ETag.
CREATE TABLE workspace_policies (
  tenant_id     uuid NOT NULL,
  workspace_id  uuid NOT NULL,
  policy        jsonb NOT NULL,
  revision      integer NOT NULL DEFAULT 1,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  updated_by    uuid,
  PRIMARY KEY (tenant_id, workspace_id),
  FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id)
);

-- Out of office: an approver lets another user decide in their name for a period. One delegation per user.
CREATE TABLE approval_delegations (
  tenant_id         uuid NOT NULL,
  user_id           uuid NOT NULL,
  delegate_user_id  uuid NOT NULL,
  starts_at         timestamptz NOT NULL,
  ends_at           timestamptz NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
  FOREIGN KEY (tenant_id, delegate_user_id) REFERENCES users (tenant_id, id),
  CHECK (delegate_user_id <> user_id),
  CHECK (ends_at > starts_at)
);
CREATE INDEX approval_delegations_delegate ON approval_delegations (tenant_id, delegate_user_id);

-- Restore from trash and lifting a legal hold can be governed too.
ALTER TABLE approval_requests DROP CONSTRAINT approval_requests_type_check;
ALTER TABLE approval_requests ADD CONSTRAINT approval_requests_type_check CHECK (type IN ('Delete', 'Replace', 'Restore', 'LegalHoldLift'));
-- Only a replacement carries a staged file (the old rule said "everything but a delete").
DO $$
DECLARE c text;
BEGIN
  SELECT conname INTO c FROM pg_constraint
  WHERE conrelid = 'approval_requests'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%staged_blob_key IS NOT NULL%';
  EXECUTE format('ALTER TABLE approval_requests DROP CONSTRAINT %I', c);
END $$;
ALTER TABLE approval_requests ADD CONSTRAINT approval_requests_replace_staged CHECK (type <> 'Replace' OR staged_blob_key IS NOT NULL);
ALTER TABLE approval_requests
  ADD COLUMN workspace_id      uuid,
  ADD COLUMN policy            jsonb,
  ADD COLUMN stage             integer NOT NULL DEFAULT 0,
  ADD COLUMN stage_started_at  timestamptz,
  ADD COLUMN reminders_sent    integer NOT NULL DEFAULT 0,
  ADD COLUMN escalated_at      timestamptz;

-- Who may decide each stage of a request, fixed when the request is made (escalation adds its fallback approvers).
CREATE TABLE approval_assignees (
  tenant_id    uuid NOT NULL,
  approval_id  uuid NOT NULL,
  stage        integer NOT NULL,
  user_id      uuid NOT NULL,
  escalation   boolean NOT NULL DEFAULT false,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, approval_id, stage, user_id),
  FOREIGN KEY (tenant_id, approval_id) REFERENCES approval_requests (tenant_id, id)
);
-- "Requests I may decide": the approvals queue of a non-admin.
CREATE INDEX approval_assignees_user ON approval_assignees (tenant_id, user_id, approval_id);

-- One vote per person per request (the key is the final word, whatever the concurrency). user_id is whose vote it
-- is; cast_by differs when a delegate cast it in their name.
CREATE TABLE approval_votes (
  tenant_id    uuid NOT NULL,
  approval_id  uuid NOT NULL,
  user_id      uuid NOT NULL,
  cast_by      uuid NOT NULL,
  stage        integer NOT NULL,
  decision     text NOT NULL CHECK (decision IN ('Approve', 'Reject')),
  comment      text,
  escalation   boolean NOT NULL DEFAULT false,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, approval_id, user_id),
  FOREIGN KEY (tenant_id, approval_id) REFERENCES approval_requests (tenant_id, id)
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['user_groups', 'user_group_members', 'workspace_policies', 'approval_delegations', 'approval_assignees', 'approval_votes']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON user_groups, user_group_members, workspace_policies, approval_delegations TO dms_app;
GRANT SELECT, INSERT ON approval_assignees, approval_votes TO dms_app;

-- Requests made before policies: their snapshot is the default they were made under (one stage, one admin), and
-- the open ones are assigned to the tenant's enabled admins other than the requester, as before.
UPDATE approval_requests
SET policy = jsonb_build_object(
      'operation', lower(type),
      'mode', 'approval',
      'stages', jsonb_build_array(jsonb_build_object(
        'name', 'Admins',
        'approvers', jsonb_build_object('roles', jsonb_build_array('Admin'), 'workspaceManagers', false, 'users', '[]'::jsonb, 'groups', '[]'::jsonb),
        'quorum', 1)),
      'expiresAfter', NULL, 'remindAt', '[]'::jsonb, 'escalation', NULL),
    stage_started_at = created_at,
    workspace_id = (SELECT d.workspace_id FROM documents d WHERE d.tenant_id = approval_requests.tenant_id AND d.id = approval_requests.document_id);
INSERT INTO approval_assignees (tenant_id, approval_id, stage, user_id)
SELECT r.tenant_id, r.id, 0, u.id
FROM approval_requests r JOIN users u ON u.tenant_id = r.tenant_id AND u.role = 'Admin' AND NOT u.disabled AND u.id <> r.requested_by
WHERE r.status = 'Pending';
