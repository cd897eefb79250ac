-- The change log of a tenant move (issue 18 item 4, ADR 0041). While a move of a tenant runs, the mover puts three
-- statement triggers on every table it copies (named after the tenant, removed when the move ends); they append here
-- the primary key of every row of that tenant inserted, updated (old and new key) or deleted since just before the
-- bulk copy's snapshot. Under the write freeze the mover copies only those rows instead of scanning every table, and
-- deletes on the target the logged keys the source no longer has. A table without a primary key logs '{}' once per
-- statement (it is copied whole when touched).
-- Global (tenant, not tenant_id): it is the mover's bookkeeping in the main database, never copied with the tenant,
-- and the runtime role has no privilege on it: the trigger function writes as its owner (SECURITY DEFINER), so a
-- write of any role (RLS or not, app.tenant_id set or not) is logged and none can fail for want of a grant.
CREATE TABLE tenant_move_changes (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant      uuid NOT NULL,
  table_name  text NOT NULL,
  key         jsonb NOT NULL
);
CREATE INDEX tenant_move_changes_tenant ON tenant_move_changes (tenant, table_name);

-- Trigger arguments: the moving tenant's id, the column that holds the tenant (tenant_id, or id for tenants), then the
-- primary key columns. Transition tables: dms_new (INSERT, UPDATE) and dms_old (UPDATE, DELETE).
CREATE FUNCTION tenant_move_log() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = public, pg_temp
  AS $$
  DECLARE
    key_sql text := '''{}''::jsonb';
    parts text[] := '{}';
    i integer;
  BEGIN
    IF TG_NARGS > 2 THEN
      FOR i IN 2 .. TG_NARGS - 1 LOOP
        parts := parts || format('%L, r.%I', TG_ARGV[i], TG_ARGV[i]);
      END LOOP;
      key_sql := 'jsonb_build_object(' || array_to_string(parts, ', ') || ')';
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
      EXECUTE format('INSERT INTO tenant_move_changes (tenant, table_name, key) SELECT DISTINCT $1, $2, %s FROM dms_old r WHERE r.%I = $1',
                     key_sql, TG_ARGV[1]) USING TG_ARGV[0]::uuid, TG_TABLE_NAME;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
      EXECUTE format('INSERT INTO tenant_move_changes (tenant, table_name, key) SELECT DISTINCT $1, $2, %s FROM dms_new r WHERE r.%I = $1',
                     key_sql, TG_ARGV[1]) USING TG_ARGV[0]::uuid, TG_TABLE_NAME;
    END IF;
    RETURN NULL;
  END
  $$;
REVOKE ALL ON FUNCTION tenant_move_log() FROM PUBLIC;
