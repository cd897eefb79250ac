-- Run as the superuser after 01-setup.sql. Compares, for one tenant of 200k documents, a rare-word title search:
-- today's ILIKE and a tsvector match on the RLS-protected table, against a search table with its own guard.
SET ROLE app;
SELECT set_config('app.tenant_id', '00000000-0000-0000-0000-000000000001', false);
\echo === A: ILIKE on documents under FORCE RLS (today)
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT id FROM documents WHERE title ILIKE '%zebrafish%';
\echo === B: tsvector @@ on documents under FORCE RLS
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT id FROM documents WHERE search @@ plainto_tsquery('simple', 'zebrafish');
\echo === C: SECURITY DEFINER function owned by the table owner (still subject to FORCE RLS)
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT * FROM search_titles('zebrafish');
RESET ROLE;

-- D: a search table without RLS that the runtime role cannot read; only SECURITY DEFINER functions that take the
-- tenant from the session setting (never a parameter) read it.
SET ROLE owner;
CREATE TABLE document_search (tenant_id uuid NOT NULL, document_id uuid NOT NULL, title text NOT NULL, search tsvector NOT NULL,
  PRIMARY KEY (tenant_id, document_id));
CREATE FUNCTION search_ids(q text) RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT document_id FROM document_search WHERE tenant_id = app_tenant_id() AND search @@ websearch_to_tsquery('simple', q) $$;
CREATE FUNCTION search_title_like(q text) RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT document_id FROM document_search WHERE tenant_id = app_tenant_id() AND title ILIKE '%' || q || '%' $$;
REVOKE ALL ON FUNCTION search_ids(text), search_title_like(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION search_ids(text), search_title_like(text) TO app;
RESET ROLE;
INSERT INTO document_search SELECT tenant_id, id, title, search FROM documents;  -- as the superuser: every tenant
CREATE INDEX document_search_fts ON document_search USING gin (search);
CREATE INDEX document_search_trgm ON document_search USING gin (title gin_trgm_ops);
ANALYZE document_search;
SET ROLE app;
SELECT set_config('app.tenant_id', '00000000-0000-0000-0000-000000000001', false);
\echo === D1: full-text through the guarded search table, joined back to documents under RLS
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT d.id, d.title FROM documents d WHERE d.id IN (SELECT search_ids('zebrafish'));
\echo === D2: substring (trigram) through the guarded search table
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT d.id, d.title FROM documents d WHERE d.id IN (SELECT search_title_like('zebrafish'));
\echo === D3: the runtime role cannot read the search table itself (expect: permission denied)
SELECT count(*) FROM document_search;
