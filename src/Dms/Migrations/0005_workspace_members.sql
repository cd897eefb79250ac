-- Per-workspace roles. Tenant admins see every workspace; everyone else sees the workspaces they are a
-- member of, with the workspace role capped by their tenant role (a tenant Viewer stays read-only).

CREATE TABLE workspace_members (
  tenant_id     uuid NOT NULL,
  workspace_id  uuid NOT NULL,
  user_id       uuid NOT NULL,
  role          text NOT NULL CHECK (role IN ('Viewer', 'Contributor', 'Manager')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  created_by    uuid,
  PRIMARY KEY (tenant_id, workspace_id, user_id),
  FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX workspace_members_user ON workspace_members (tenant_id, user_id);

ALTER TABLE workspace_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspace_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON workspace_members USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON workspace_members TO dms_app;

-- The default workspace is everyone's: existing members and viewers join it with their tenant role's level.
INSERT INTO workspace_members (tenant_id, workspace_id, user_id, role)
SELECT u.tenant_id, w.id, u.id, CASE u.role WHEN 'Member' THEN 'Contributor' ELSE 'Viewer' END
FROM users u JOIN workspaces w ON w.tenant_id = u.tenant_id AND w.is_default
WHERE u.role IN ('Member', 'Viewer');
