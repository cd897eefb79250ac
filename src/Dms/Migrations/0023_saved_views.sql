-- Saved views (issue 16 item 2), owned by Documents: a named list query (the list's own parameter names), the columns to
-- show, private to its owner or shared with the tenant. owner_email is the owner's address when saved, so "whose view"
-- costs no join with users (Access).
CREATE TABLE saved_views (
  tenant_id    uuid NOT NULL,
  id           uuid NOT NULL,
  owner_id     uuid NOT NULL,
  owner_email  text NOT NULL,
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  query        jsonb NOT NULL CHECK (jsonb_typeof(query) = 'object'),
  columns      text[] NOT NULL,
  shared       boolean NOT NULL,
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id)
);
-- Names are unique per owner (case-insensitively: "Invoices" and "invoices" side by side would only confuse).
CREATE UNIQUE INDEX saved_views_owner_name ON saved_views (tenant_id, owner_id, lower(name));
-- The tenant's shared views, for everyone's list.
CREATE INDEX saved_views_shared ON saved_views (tenant_id) WHERE shared;

-- Pins are per user: anyone may pin a view they can see (their own or a shared one) without touching the view.
CREATE TABLE saved_view_pins (
  tenant_id  uuid NOT NULL,
  user_id    uuid NOT NULL,
  view_id    uuid NOT NULL,
  pinned_at  timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, user_id, view_id),
  FOREIGN KEY (tenant_id, view_id) REFERENCES saved_views (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX saved_view_pins_view ON saved_view_pins (tenant_id, view_id);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['saved_views', 'saved_view_pins']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON saved_views, saved_view_pins TO dms_app;
