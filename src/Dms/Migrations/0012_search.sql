-- Full-text search that PostgreSQL can serve from its indexes under row-level security (issue 12, ADR 0016).
--
-- With FORCE ROW LEVEL SECURITY the planner may not use an index condition whose operator is not LEAKPROOF
-- (@@, ILIKE, @>, %) before the policy's condition, so a search index on an RLS table is never used by the
-- runtime role. The search index therefore lives in its own table, document_search, which has no RLS and on
-- which the runtime role has NO privilege at all. It is read only through the SECURITY DEFINER functions below,
-- which take the tenant from the transaction's setting (app_tenant_id()), never from an argument, and return
-- document ids. The application joins those ids back to documents under RLS and applies the workspace
-- permissions there, so RLS stays the wall; the search table only narrows the candidates.
-- Triggers keep it in the same transaction as every change of a document or of a version's text.

CREATE EXTENSION IF NOT EXISTS btree_gin;
-- The title trigram index served `title ILIKE`, which the runtime role could never use under FORCE RLS; search
-- has its own trigram index on document_search.
DROP INDEX documents_title_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- The default for mixed-language text: no stemming (it would be wrong for every language but one), case and
-- accents folded, so "Café" finds "cafe". A tenant may choose a language's configuration for stemming.
CREATE TEXT SEARCH CONFIGURATION dms_simple (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION dms_simple ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;

-- The tenant's search language (Documents). No row: dms_simple.
CREATE TABLE search_settings (
  tenant_id   uuid PRIMARY KEY,
  config      regconfig NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  updated_by  uuid
);
ALTER TABLE search_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE search_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON search_settings USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON search_settings TO dms_app;

CREATE TABLE document_search (
  tenant_id     uuid NOT NULL,
  document_id   uuid NOT NULL,
  workspace_id  uuid NOT NULL,
  folder_id     uuid,
  status        text NOT NULL,
  tags          text[] NOT NULL,
  title         text NOT NULL,
  created_at    timestamptz NOT NULL,
  config        regconfig NOT NULL,
  title_tsv     tsvector NOT NULL,  -- the title alone (title matches rank first)
  all_tsv       tsvector NOT NULL,  -- title A, tags B, description C, the current version's text D: stored, not
                                    -- concatenated per query (that cost ~0.1 ms a row, 100 ms per search of 1,000)
  PRIMARY KEY (tenant_id, document_id)
);
-- btree_gin puts the tenant into the same GIN index, so a word common in other tenants costs nothing here.
-- The workspace and the tags are in it too, so a common word inside one small workspace or with a rare tag is an
-- intersection inside the index, not a recheck of every match.
CREATE INDEX document_search_all ON document_search USING gin (tenant_id, workspace_id, tags, all_tsv);
CREATE INDEX document_search_titles ON document_search USING gin (tenant_id, workspace_id, title_tsv);
CREATE INDEX document_search_title_trgm ON document_search USING gin (tenant_id, title gin_trgm_ops);
CREATE INDEX document_search_recent ON document_search (tenant_id, created_at DESC, document_id DESC);
-- A member's search walks each readable workspace by recency (document_search_find_sql).
CREATE INDEX document_search_workspace_recent ON document_search (tenant_id, workspace_id, created_at DESC, document_id DESC);
REVOKE ALL ON document_search FROM PUBLIC;

-- The tenant's configuration (runs as the owner inside the definer functions below).
CREATE FUNCTION search_config_of(p_tenant uuid) RETURNS regconfig
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$ SELECT coalesce((SELECT config FROM search_settings WHERE tenant_id = p_tenant), 'dms_simple'::regconfig) $$;
REVOKE ALL ON FUNCTION search_config_of(uuid) FROM PUBLIC;

-- The weighted vector of a document: title A, tags B, description C, the text of its version D (bounded: to_tsvector
-- has a 1 MB limit; extraction caps text anyway). Reads version_texts as the owner, under the transaction's tenant.
CREATE FUNCTION search_vector(p_config regconfig, p_tenant uuid, p_document uuid, p_version integer, p_title text, p_tags text[], p_description text)
  RETURNS tsvector
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
    SELECT setweight(to_tsvector(p_config, p_title), 'A')
        || setweight(to_tsvector(p_config, array_to_string(p_tags, ' ')), 'B')
        || setweight(to_tsvector(p_config, coalesce(p_description, '')), 'C')
        || coalesce((SELECT setweight(to_tsvector(p_config, left(content, 1000000)), 'D')
                     FROM version_texts WHERE tenant_id = p_tenant AND document_id = p_document AND version_number = p_version
                       AND content IS NOT NULL), ''::tsvector)
  $$;
REVOKE ALL ON FUNCTION search_vector(regconfig, uuid, uuid, integer, text, text[], text) FROM PUBLIC;

-- documents → document_search. Text is re-parsed only when it changed: a status change touches one row's columns.
CREATE FUNCTION search_sync_document() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
  DECLARE
    v_config regconfig;
  BEGIN
    IF NEW.status = 'Purged' THEN
      DELETE FROM document_search WHERE tenant_id = NEW.tenant_id AND document_id = NEW.id;
      RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' OR NOT EXISTS (SELECT 1 FROM document_search WHERE tenant_id = NEW.tenant_id AND document_id = NEW.id) THEN
      v_config := search_config_of(NEW.tenant_id);
      INSERT INTO document_search (tenant_id, document_id, workspace_id, folder_id, status, tags, title, created_at, config, title_tsv, all_tsv)
      VALUES (NEW.tenant_id, NEW.id, NEW.workspace_id, NEW.folder_id, NEW.status, NEW.tags, NEW.title, NEW.created_at, v_config,
              to_tsvector(v_config, NEW.title),
              search_vector(v_config, NEW.tenant_id, NEW.id, NEW.current_version, NEW.title, NEW.tags, NEW.description))
      ON CONFLICT (tenant_id, document_id) DO NOTHING;
      RETURN NULL;
    END IF;
    IF NEW.title IS DISTINCT FROM OLD.title OR NEW.tags IS DISTINCT FROM OLD.tags OR NEW.description IS DISTINCT FROM OLD.description
       OR NEW.current_version IS DISTINCT FROM OLD.current_version THEN
      UPDATE document_search s
      SET title = NEW.title, tags = NEW.tags, title_tsv = to_tsvector(s.config, NEW.title),
          all_tsv = search_vector(s.config, NEW.tenant_id, NEW.id, NEW.current_version, NEW.title, NEW.tags, NEW.description)
      WHERE s.tenant_id = NEW.tenant_id AND s.document_id = NEW.id;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status OR NEW.workspace_id IS DISTINCT FROM OLD.workspace_id OR NEW.folder_id IS DISTINCT FROM OLD.folder_id THEN
      UPDATE document_search SET status = NEW.status, workspace_id = NEW.workspace_id, folder_id = NEW.folder_id
      WHERE tenant_id = NEW.tenant_id AND document_id = NEW.id;
    END IF;
    RETURN NULL;
  END
  $$;
CREATE TRIGGER documents_search
  AFTER INSERT OR UPDATE OF title, description, tags, current_version, status, workspace_id, folder_id ON documents FOR EACH ROW EXECUTE FUNCTION search_sync_document();

-- version_texts → document_search, when the text read is the current version's.
CREATE FUNCTION search_sync_text() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
  BEGIN
    IF TG_OP = 'INSERT' OR NEW.content IS DISTINCT FROM OLD.content THEN
      UPDATE document_search s
      SET all_tsv = search_vector(s.config, d.tenant_id, d.id, d.current_version, d.title, d.tags, d.description)
      FROM documents d
      WHERE s.tenant_id = NEW.tenant_id AND s.document_id = NEW.document_id
        AND d.tenant_id = NEW.tenant_id AND d.id = NEW.document_id AND d.current_version = NEW.version_number;
    END IF;
    RETURN NULL;
  END
  $$;
CREATE TRIGGER version_texts_search AFTER INSERT OR UPDATE ON version_texts FOR EACH ROW EXECUTE FUNCTION search_sync_text();

-- The search itself. Candidates are the newest p_candidates matches of the whole text plus the newest p_candidates
-- matches of the title alone (so a title match is never crowded out by newer matches in content), within the
-- filters given; ranked title matches first, then ts_rank_cd, then recency. Only the caller's tenant, from the
-- transaction's setting; no setting, no rows. Dynamic SQL so each call is planned with its real values (a common
-- word walks the recency index, a rare one the GIN index).
CREATE FUNCTION document_search_find_sql(p_workspaces uuid[], p_folder uuid, p_status text, p_tag text) RETURNS text
  LANGUAGE plpgsql IMMUTABLE SET search_path = public, pg_temp
  AS $fn$
  DECLARE
    v_filter text := ' AND s.status NOT IN (''Deleted'', ''Purged'')'
      || CASE WHEN p_folder IS NOT NULL THEN ' AND s.folder_id = $4' ELSE '' END
      || CASE WHEN p_status IS NOT NULL THEN ' AND s.status = $5' ELSE '' END
      || CASE WHEN p_tag IS NOT NULL THEN ' AND s.tags @> ARRAY[$6]' ELSE '' END;
    -- The walks carry the vectors (as TOAST pointers) and nothing is computed per matching row: ranking happens once,
    -- on at most 2 × p_candidates rows, outside (ts_rank_cd over every match of a common word took seconds at 1M).
    v_from text := 's.document_id, s.created_at, s.title_tsv, s.all_tsv FROM document_search s WHERE s.tenant_id = $1 AND s.all_tsv @@ $2';
    v_order text := ' ORDER BY s.created_at DESC, s.document_id DESC LIMIT $7';
    v_any text := 'SELECT ' || v_from || v_filter;
    v_titles text := 'SELECT ' || v_from || ' AND s.title_tsv @@ $2' || v_filter;
    v_walks text;
  BEGIN
    IF p_workspaces IS NULL THEN
      v_walks := '(' || v_any || v_order || ') UNION ALL (' || v_titles || v_order || ')';
    ELSE
      -- A member: one walk per readable workspace, by equality (the GIN index's workspace column serves it together
      -- with the words; `= ANY` could not), merged by recency.
      v_walks := '(SELECT x.* FROM unnest($3) w(id) CROSS JOIN LATERAL (' || v_any || ' AND s.workspace_id = w.id' || v_order || ') x'
        || ' ORDER BY x.created_at DESC, x.document_id DESC LIMIT $7)'
        || ' UNION ALL (SELECT x.* FROM unnest($3) w(id) CROSS JOIN LATERAL (' || v_titles || ' AND s.workspace_id = w.id' || v_order || ') x'
        || ' ORDER BY x.created_at DESC, x.document_id DESC LIMIT $7)';
    END IF;
    RETURN 'SELECT DISTINCT ON (h.document_id) h.document_id, h.title_tsv @@ $2, ts_rank_cd(h.all_tsv, $2), h.created_at'
      || ' FROM (' || v_walks || ') h ORDER BY h.document_id';
  END
  $fn$;
REVOKE ALL ON FUNCTION document_search_find_sql(uuid[], uuid, text, text) FROM PUBLIC;

CREATE FUNCTION document_search_find(p_query tsquery, p_workspaces uuid[], p_folder uuid, p_status text, p_tag text, p_candidates integer)
  RETURNS TABLE (document_id uuid, in_title boolean, rank real, created_at timestamptz)
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
  DECLARE
    v_tenant uuid := app_tenant_id();
  BEGIN
    IF v_tenant IS NULL OR p_query IS NULL OR p_candidates NOT BETWEEN 1 AND 10000 THEN
      RETURN;
    END IF;
    RETURN QUERY EXECUTE document_search_find_sql(p_workspaces, p_folder, p_status, p_tag)
      USING v_tenant, p_query, p_workspaces, p_folder, p_status, p_tag, p_candidates;
  END
  $$;
REVOKE ALL ON FUNCTION document_search_find(tsquery, uuid[], uuid, text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION document_search_find(tsquery, uuid[], uuid, text, text, integer) TO dms_app;

-- The plan of document_search_find's query with these values (the query-plan check in CI; operators). Not granted
-- to the runtime role: a plan shows row counts.
CREATE FUNCTION document_search_explain(p_query tsquery, p_workspaces uuid[], p_folder uuid, p_status text, p_tag text, p_candidates integer)
  RETURNS json
  LANGUAGE plpgsql SET search_path = public, pg_temp
  AS $$
  DECLARE
    v_plan json;
  BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || document_search_find_sql(p_workspaces, p_folder, p_status, p_tag)
      INTO v_plan USING app_tenant_id(), p_query, p_workspaces, p_folder, p_status, p_tag, p_candidates;
    RETURN v_plan;
  END
  $$;
REVOKE ALL ON FUNCTION document_search_explain(tsquery, uuid[], uuid, text, text, integer) FROM PUBLIC;

-- Titles like p_text (typo tolerance): trigram word similarity, best first.
CREATE FUNCTION document_search_similar(p_text text, p_workspaces uuid[], p_folder uuid, p_status text, p_tag text, p_limit integer)
  RETURNS TABLE (document_id uuid, similarity real)
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
  DECLARE
    v_tenant uuid := app_tenant_id();
  BEGIN
    IF v_tenant IS NULL OR p_text IS NULL OR length(p_text) < 3 OR p_limit NOT BETWEEN 1 AND 100 THEN
      RETURN;
    END IF;
    RETURN QUERY EXECUTE
      'SELECT s.document_id, word_similarity($2, s.title) FROM document_search s'
      || ' WHERE s.tenant_id = $1 AND $2 <% s.title AND s.status NOT IN (''Deleted'', ''Purged'')'
      || CASE WHEN p_workspaces IS NOT NULL THEN ' AND s.workspace_id = ANY($3)' ELSE '' END
      || CASE WHEN p_folder IS NOT NULL THEN ' AND s.folder_id = $4' ELSE '' END
      || CASE WHEN p_status IS NOT NULL THEN ' AND s.status = $5' ELSE '' END
      || CASE WHEN p_tag IS NOT NULL THEN ' AND s.tags @> ARRAY[$6]' ELSE '' END
      || ' ORDER BY word_similarity($2, s.title) DESC, s.created_at DESC LIMIT $7'
      USING v_tenant, p_text, p_workspaces, p_folder, p_status, p_tag, p_limit;
  END
  $$;
REVOKE ALL ON FUNCTION document_search_similar(text, uuid[], uuid, text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION document_search_similar(text, uuid[], uuid, text, text, integer) TO dms_app;

-- How many documents match: exact up to p_exact_up_to, else the planner's estimate from the index statistics
-- ("about 12,000"), never a count of millions of rows. VOLATILE because it runs EXPLAIN (which a STABLE function may not).
CREATE FUNCTION document_search_count(p_query tsquery, p_workspaces uuid[], p_folder uuid, p_status text, p_tag text, p_exact_up_to integer)
  RETURNS TABLE (total bigint, exact boolean)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
  DECLARE
    v_tenant uuid := app_tenant_id();
    v_where text;
    v_count bigint;
    v_plan json;
  BEGIN
    IF v_tenant IS NULL OR p_query IS NULL OR p_exact_up_to NOT BETWEEN 0 AND 100000 THEN
      RETURN QUERY SELECT 0::bigint, true;
      RETURN;
    END IF;
    v_where := ' WHERE s.tenant_id = ' || quote_literal(v_tenant) || '::uuid'
      || ' AND s.all_tsv @@ ' || quote_literal(p_query::text) || '::tsquery'
      || ' AND s.status NOT IN (''Deleted'', ''Purged'')'
      || CASE WHEN p_folder IS NOT NULL THEN ' AND s.folder_id = ' || quote_literal(p_folder) || '::uuid' ELSE '' END
      || CASE WHEN p_status IS NOT NULL THEN ' AND s.status = ' || quote_literal(p_status) ELSE '' END
      || CASE WHEN p_tag IS NOT NULL THEN ' AND s.tags @> ARRAY[' || quote_literal(p_tag) || ']' ELSE '' END;
    IF p_workspaces IS NULL THEN
      EXECUTE 'SELECT count(*) FROM (SELECT 1 FROM document_search s' || v_where || ' LIMIT ' || (p_exact_up_to + 1) || ') c' INTO v_count;
    ELSE
      -- Per workspace, by equality, as in document_search_find_sql.
      EXECUTE 'SELECT count(*) FROM (SELECT 1 FROM unnest(' || quote_literal(p_workspaces::text) || '::uuid[]) w(id) CROSS JOIN LATERAL'
        || ' (SELECT 1 FROM document_search s' || v_where || ' AND s.workspace_id = w.id LIMIT ' || (p_exact_up_to + 1) || ') x'
        || ' LIMIT ' || (p_exact_up_to + 1) || ') c' INTO v_count;
      v_where := v_where || ' AND s.workspace_id = ANY(' || quote_literal(p_workspaces::text) || '::uuid[])';
    END IF;
    IF v_count <= p_exact_up_to THEN
      RETURN QUERY SELECT v_count, true;
      RETURN;
    END IF;
    EXECUTE 'EXPLAIN (FORMAT JSON) SELECT 1 FROM document_search s' || v_where INTO v_plan;
    RETURN QUERY SELECT greatest(v_count, (v_plan -> 0 -> 'Plan' ->> 'Plan Rows')::bigint), false;
  END
  $$;
REVOKE ALL ON FUNCTION document_search_count(tsquery, uuid[], uuid, text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION document_search_count(tsquery, uuid[], uuid, text, text, integer) TO dms_app;

-- Existing documents: the owner is subject to FORCE RLS like everyone, so the backfill lifts FORCE for the
-- length of this migration's transaction (the owner is the only role that could see the rows meanwhile).
ALTER TABLE documents NO FORCE ROW LEVEL SECURITY;
ALTER TABLE version_texts NO FORCE ROW LEVEL SECURITY;
INSERT INTO version_texts (tenant_id, document_id, version_number)
SELECT d.tenant_id, d.id, d.current_version FROM documents d WHERE d.status NOT IN ('Deleted', 'Purged')
ON CONFLICT DO NOTHING;
INSERT INTO outbox_messages (id, tenant_id, type, payload)
SELECT gen_random_uuid(), t.tenant_id, k.type, jsonb_build_object('documentId', t.document_id, 'number', t.version_number)
FROM version_texts t CROSS JOIN (VALUES ('document.extract_text'), ('document.render_previews')) AS k(type)
WHERE t.status = 'Pending';
INSERT INTO document_search (tenant_id, document_id, workspace_id, folder_id, status, tags, title, created_at, config, title_tsv, all_tsv)
SELECT d.tenant_id, d.id, d.workspace_id, d.folder_id, d.status, d.tags, d.title, d.created_at, 'dms_simple', to_tsvector('dms_simple', d.title),
       setweight(to_tsvector('dms_simple', d.title), 'A') || setweight(to_tsvector('dms_simple', array_to_string(d.tags, ' ')), 'B')
         || setweight(to_tsvector('dms_simple', coalesce(d.description, '')), 'C')
FROM documents d WHERE d.status <> 'Purged';
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
ALTER TABLE version_texts FORCE ROW LEVEL SECURITY;

-- After the tenant's language changed: re-parses up to p_limit of its rows still in another configuration; returns how
-- many (the reindex handler calls it until 0). Only the caller's tenant, from the transaction's setting.
CREATE FUNCTION document_search_reindex(p_limit integer) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
  DECLARE
    v_tenant uuid := app_tenant_id();
    v_config regconfig;
    v_count integer;
  BEGIN
    IF v_tenant IS NULL OR p_limit NOT BETWEEN 1 AND 10000 THEN
      RETURN 0;
    END IF;
    v_config := search_config_of(v_tenant);
    WITH batch AS (
      SELECT s.document_id FROM document_search s WHERE s.tenant_id = v_tenant AND s.config <> v_config LIMIT p_limit FOR UPDATE)
    UPDATE document_search s
    SET config = v_config, title_tsv = to_tsvector(v_config, d.title),
        all_tsv = search_vector(v_config, v_tenant, d.id, d.current_version, d.title, d.tags, d.description)
    FROM batch, documents d
    WHERE s.tenant_id = v_tenant AND s.document_id = batch.document_id AND d.tenant_id = v_tenant AND d.id = batch.document_id;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
  END
  $$;
REVOKE ALL ON FUNCTION document_search_reindex(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION document_search_reindex(integer) TO dms_app;
