-- Document types with typed custom fields (issue 16 item 1; ADR 0027), owned by Documents.

-- A type and its field definitions. The definitions are one jsonb array ({key, label, kind, required, options, default}):
-- they are read and written whole, validated by the app (Modules/Documents/Types/FieldDefinitions.cs).
CREATE TABLE document_types (
  tenant_id        uuid NOT NULL,
  id               uuid NOT NULL,
  name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  name_normalized  text NOT NULL,
  fields           jsonb NOT NULL DEFAULT '[]',
  revision         int NOT NULL DEFAULT 1,
  created_at       timestamptz NOT NULL DEFAULT now(),
  created_by       uuid NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  updated_by       uuid NOT NULL,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, name_normalized)
);

-- A document has one type or none, and its values as a jsonb object (key → value, absent keys have no value): what
-- every read shows. The copy below is what lists filter and sort on.
ALTER TABLE documents ADD COLUMN type_id uuid;
ALTER TABLE documents ADD COLUMN fields jsonb NOT NULL DEFAULT '{}';
ALTER TABLE documents ADD CONSTRAINT documents_type_fk FOREIGN KEY (tenant_id, type_id) REFERENCES document_types (tenant_id, id);
-- typeId= in the default list order, and "is this type in use".
CREATE INDEX documents_by_type ON documents (tenant_id, type_id, created_at DESC, id DESC) WHERE type_id IS NOT NULL;

-- One row per (document, field of its type, value): a multiselect has a row per chosen option; a field without a value
-- has one row with every value column null, so "documents without a value" is an index range too (the sort puts them
-- last). Typed columns, so equality, ranges and order are btree scans with LEAKPROOF operators under FORCE RLS (jsonb
-- @> or ->> would never use an index there; ADR 0016). Numbers are double precision, not numeric: numeric's operators
-- are not LEAKPROOF, so under RLS a numeric range is a filter over the whole key, not an index condition (ADR 0027). Kept by the trigger below from documents.type_id/fields, so no
-- writer can forget it (as document_tags is).
CREATE TABLE document_field_values (
  tenant_id     uuid NOT NULL,
  document_id   uuid NOT NULL,
  type_id       uuid NOT NULL,
  key           text NOT NULL,
  value_text    text,
  value_number  double precision,
  value_date    date,
  FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, type_id) REFERENCES document_types (tenant_id, id)
);
CREATE INDEX document_field_values_text ON document_field_values (tenant_id, type_id, key, value_text, document_id);
CREATE INDEX document_field_values_number ON document_field_values (tenant_id, type_id, key, value_number, document_id);
CREATE INDEX document_field_values_date ON document_field_values (tenant_id, type_id, key, value_date, document_id);
-- "Without a value" in id order: IS NULL is no equality the planner orders by, so its own partial index.
CREATE INDEX document_field_values_missing ON document_field_values (tenant_id, type_id, key, document_id)
  WHERE value_text IS NULL AND value_number IS NULL AND value_date IS NULL;
CREATE INDEX document_field_values_document ON document_field_values (tenant_id, document_id);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['document_types', 'document_field_values']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON document_types TO dms_app;
-- The trigger runs as the writer (the runtime role), under the same policy; the types handler adds rows for a new field.
GRANT SELECT, INSERT, DELETE ON document_field_values TO dms_app;

-- Rewrites a document's rows from its type's definitions (the kind says which column a value goes to) and its values.
CREATE FUNCTION documents_sync_fields() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = public, pg_temp
  AS $$
  BEGIN
    IF TG_OP = 'UPDATE' THEN
      DELETE FROM document_field_values v WHERE v.tenant_id = OLD.tenant_id AND v.document_id = OLD.id;
    END IF;
    IF NEW.type_id IS NOT NULL THEN
      INSERT INTO document_field_values (tenant_id, document_id, type_id, key, value_text, value_number, value_date)
      SELECT NEW.tenant_id, NEW.id, NEW.type_id, f.def->>'key',
             CASE WHEN f.def->>'kind' NOT IN ('number', 'date') THEN e.value #>> '{}' END,
             CASE WHEN f.def->>'kind' = 'number' THEN (e.value #>> '{}')::double precision END,
             CASE WHEN f.def->>'kind' = 'date' THEN (e.value #>> '{}')::date END
      FROM document_types t
      CROSS JOIN LATERAL jsonb_array_elements(t.fields) AS f(def)
      LEFT JOIN LATERAL (
        SELECT x AS value FROM jsonb_array_elements(
          CASE jsonb_typeof(NEW.fields -> (f.def->>'key')) WHEN 'array' THEN NEW.fields -> (f.def->>'key')
               ELSE jsonb_build_array(NEW.fields -> (f.def->>'key')) END) AS x
        WHERE jsonb_typeof(x) IS DISTINCT FROM 'null') e ON true
      WHERE t.tenant_id = NEW.tenant_id AND t.id = NEW.type_id;
    END IF;
    RETURN NULL;
  END
  $$;
CREATE TRIGGER documents_fields_sync AFTER INSERT OR UPDATE OF type_id, fields ON documents
  FOR EACH ROW EXECUTE FUNCTION documents_sync_fields();
