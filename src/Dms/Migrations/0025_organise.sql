-- Organising documents (issue 16, items 4-6): duplicate detection by SHA-256, the tenant's duplicate setting, and
-- comments in the search text. Moving needs no schema: a document's workspace and folder are columns it already has,
-- and the search trigger (0012) already follows them.

-- "Is this file already here?": the current versions with this content in the tenant. Equality on text is LEAKPROOF,
-- so the runtime role's index condition survives row-level security (checked with EXPLAIN in DuplicateTests).
CREATE INDEX document_versions_sha256 ON document_versions (tenant_id, sha256);

-- The tenant's duplicate setting (Documents). No row: duplicates are flagged, never refused.
CREATE TABLE duplicate_settings (
  tenant_id   uuid PRIMARY KEY REFERENCES tenants (id),
  refuse      boolean NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  updated_by  uuid
);
ALTER TABLE duplicate_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE duplicate_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON duplicate_settings USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON duplicate_settings TO dms_app;

-- Comments are part of a document's searchable text (weight D, like the file's text): a word said in a comment finds
-- the document. Same signature as 0012's, so the document and text triggers and the reindex pick comments up as well.
CREATE OR REPLACE FUNCTION search_vector(p_config regconfig, p_tenant uuid, p_document uuid, p_version integer, p_title text, p_tags text[], p_description text)
  RETURNS tsvector
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
    SELECT setweight(to_tsvector(p_config, p_title), 'A')
        || setweight(to_tsvector(p_config, array_to_string(p_tags, ' ')), 'B')
        || setweight(to_tsvector(p_config, coalesce(p_description, '')), 'C')
        || coalesce((SELECT setweight(to_tsvector(p_config, left(content, 1000000)), 'D')
                     FROM version_texts WHERE tenant_id = p_tenant AND document_id = p_document AND version_number = p_version
                       AND content IS NOT NULL), ''::tsvector)
        || coalesce((SELECT setweight(to_tsvector(p_config, left(string_agg(text, E'\n' ORDER BY created_at, id), 1000000)), 'D')
                     FROM document_comments WHERE tenant_id = p_tenant AND document_id = p_document), ''::tsvector)
  $$;
REVOKE ALL ON FUNCTION search_vector(regconfig, uuid, uuid, integer, text, text[], text) FROM PUBLIC;

-- document_comments → document_search, in the comment's transaction (post, edit, delete).
CREATE FUNCTION search_sync_comments() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
  DECLARE
    v_tenant uuid;
    v_document uuid;
  BEGIN
    IF TG_OP = 'DELETE' THEN
      v_tenant := OLD.tenant_id; v_document := OLD.document_id;
    ELSE
      v_tenant := NEW.tenant_id; v_document := NEW.document_id;
    END IF;
    UPDATE document_search s
    SET all_tsv = search_vector(s.config, d.tenant_id, d.id, d.current_version, d.title, d.tags, d.description)
    FROM documents d
    WHERE s.tenant_id = v_tenant AND s.document_id = v_document AND d.tenant_id = v_tenant AND d.id = v_document;
    RETURN NULL;
  END
  $$;
CREATE TRIGGER document_comments_search
  AFTER INSERT OR UPDATE OF text OR DELETE ON document_comments FOR EACH ROW EXECUTE FUNCTION search_sync_comments();

-- Comments written before this migration: the owner lifts FORCE for this transaction only (as 0012 did).
ALTER TABLE documents NO FORCE ROW LEVEL SECURITY;
ALTER TABLE version_texts NO FORCE ROW LEVEL SECURITY;
ALTER TABLE document_comments NO FORCE ROW LEVEL SECURITY;
UPDATE document_search s
SET all_tsv = search_vector(s.config, d.tenant_id, d.id, d.current_version, d.title, d.tags, d.description)
FROM documents d
WHERE d.tenant_id = s.tenant_id AND d.id = s.document_id
  AND EXISTS (SELECT 1 FROM document_comments c WHERE c.tenant_id = d.tenant_id AND c.document_id = d.id);
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
ALTER TABLE version_texts FORCE ROW LEVEL SECURITY;
ALTER TABLE document_comments FORCE ROW LEVEL SECURITY;
