-- Lists as fast for members as for admins, type and tag filters index-backed (issue 12, items 4 and 7).
-- Under FORCE row-level security only LEAKPROOF operators (equality on text and uuid) can be index conditions for the
-- runtime role (ADR 0016): `content_type LIKE ANY(...)` and `tags @> ...` never were, so `type=` and `tag=` walked the
-- whole tenant. Both become equalities on indexed columns here. QueryPlanTests holds every list query to its index.

-- 1. type=: the family of the current version, stored on the document by the statements that write versions.
--    The same rules as FileFamilies.Patterns (no family for other types, as no pattern matched them).
CREATE FUNCTION document_content_family(content_type text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT CASE
      WHEN content_type = 'application/pdf' THEN 'pdf'
      WHEN content_type LIKE 'image/%' THEN 'image'
      WHEN content_type LIKE 'application/vnd.openxmlformats-officedocument.%' OR content_type LIKE 'application/vnd.oasis.opendocument.%' THEN 'office'
      WHEN content_type LIKE 'text/%' THEN 'text'
    END
  $$;
ALTER TABLE documents ADD COLUMN content_family text;

-- 2. tag=: one row per (document, tag), kept by a trigger from documents.tags, so no writer can forget it.
CREATE TABLE document_tags (
  tenant_id    uuid NOT NULL,
  document_id  uuid NOT NULL,
  tag          text NOT NULL,
  FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id) ON DELETE CASCADE
);

-- The GIN index on tags served `tags @>`, which no runtime query can use under FORCE RLS (ADR 0016); document_tags
-- replaces it. Dropped first, so the backfill below does not also rewrite it.
DROP INDEX documents_tags;

-- Backfill (minutes at a million documents: the runner must not time it out). The owner runs migrations, and FORCE holds it to the policies too, which would hide every row (no tenant
-- is set): lifted for this transaction only (the ALTERs hold their locks until the commit, so no other session ever
-- sees the tables without FORCE) and put back below.
ALTER TABLE documents NO FORCE ROW LEVEL SECURITY;
ALTER TABLE document_versions NO FORCE ROW LEVEL SECURITY;
UPDATE documents d SET content_family = document_content_family(v.content_type)
FROM document_versions v
WHERE v.tenant_id = d.tenant_id AND v.document_id = d.id AND v.number = d.current_version;
INSERT INTO document_tags (tenant_id, document_id, tag)
SELECT d.tenant_id, d.id, t.tag FROM documents d CROSS JOIN LATERAL unnest(ARRAY(SELECT DISTINCT unnest(d.tags))) AS t(tag);
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
ALTER TABLE document_versions FORCE ROW LEVEL SECURITY;

ALTER TABLE document_tags ADD PRIMARY KEY (tenant_id, document_id, tag);
-- The list's tag filter: equality on tag (LEAKPROOF) gives the tag's documents from the index alone.
CREATE INDEX document_tags_by_tag ON document_tags (tenant_id, tag, document_id);
ALTER TABLE document_tags ENABLE ROW LEVEL SECURITY;
ALTER TABLE document_tags FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON document_tags USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
-- The trigger runs as the writer (the runtime role), under the same policy.
GRANT SELECT, INSERT, DELETE ON document_tags TO dms_app;

CREATE FUNCTION documents_sync_tags() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = public, pg_temp
  AS $$
  BEGIN
    IF TG_OP = 'UPDATE' THEN
      DELETE FROM document_tags t
      WHERE t.tenant_id = OLD.tenant_id AND t.document_id = OLD.id AND NOT (t.tag = ANY (NEW.tags));
    END IF;
    INSERT INTO document_tags (tenant_id, document_id, tag)
    SELECT NEW.tenant_id, NEW.id, tag FROM unnest(NEW.tags) AS tag
    ON CONFLICT DO NOTHING;
    RETURN NULL;
  END
  $$;
CREATE TRIGGER documents_tags_sync AFTER INSERT OR UPDATE OF tags ON documents
  FOR EACH ROW EXECUTE FUNCTION documents_sync_tags();

-- type= in list order; status= already has documents_by_status (0010), folders and workspaces their own (0001).
CREATE INDEX documents_by_family ON documents (tenant_id, content_family, created_at DESC, id DESC);
-- A member's list walks each readable workspace in the chosen order (DocumentReadModel): created_at has
-- documents_workspace (0001); these serve the other two sorts, so a member sorting a large workspace stays a walk.
CREATE INDEX documents_workspace_updated ON documents (tenant_id, workspace_id, updated_at DESC, id DESC);
CREATE INDEX documents_workspace_title ON documents (tenant_id, workspace_id, title, id);
