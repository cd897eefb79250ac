CREATE EXTENSION pg_trgm;
CREATE ROLE owner LOGIN; CREATE ROLE app LOGIN;
GRANT CREATE ON SCHEMA public TO owner; GRANT USAGE ON SCHEMA public TO app; SET ROLE owner;
CREATE FUNCTION app_tenant_id() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;
CREATE TABLE documents (tenant_id uuid NOT NULL, id uuid PRIMARY KEY, title text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
  search tsvector GENERATED ALWAYS AS (to_tsvector('simple', title)) STORED);
ALTER TABLE documents ENABLE ROW LEVEL SECURITY; ALTER TABLE documents FORCE ROW LEVEL SECURITY;
CREATE POLICY t ON documents USING (tenant_id = app_tenant_id());
GRANT SELECT ON documents TO app;
RESET ROLE;
INSERT INTO documents (tenant_id, id, title, created_at)
SELECT CASE WHEN g % 3 = 0 THEN '00000000-0000-0000-0000-000000000001'::uuid WHEN g % 3 = 1 THEN '00000000-0000-0000-0000-000000000002'::uuid ELSE '00000000-0000-0000-0000-000000000003'::uuid END,
  gen_random_uuid(), 'report ' || md5(g::text) || CASE WHEN g % 50000 = 0 THEN ' zebrafish' ELSE '' END, now() - (g || ' seconds')::interval
FROM generate_series(1, 600000) g;
CREATE INDEX documents_title_trgm ON documents USING gin (title gin_trgm_ops);
CREATE INDEX documents_search ON documents USING gin (search);
CREATE INDEX documents_recent ON documents (tenant_id, created_at DESC, id DESC);
ANALYZE documents;
-- Design D: the search function owned by the table owner, which is subject to FORCE RLS too; variant with a bypass role
GRANT CREATE ON SCHEMA public TO owner; SET ROLE owner;
CREATE FUNCTION search_titles(q text) RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT id FROM documents WHERE tenant_id = app_tenant_id() AND search @@ plainto_tsquery('simple', q) $$;
RESET ROLE;
