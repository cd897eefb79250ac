-- Tamper-evident audit trail: append-only, hash-chained per tenant.
-- hash = SHA-256(previous hash || canonical event); the canonical form is computed by one SQL function
-- used both to append and to verify, so the two can never disagree about formatting.

CREATE TABLE audit_events (
  id              uuid PRIMARY KEY,
  tenant_id       uuid NOT NULL REFERENCES tenants (id),
  seq             bigint NOT NULL,
  occurred_at     timestamptz NOT NULL,
  actor_type      text NOT NULL CHECK (actor_type IN ('user', 'token', 'system', 'anonymous')),
  actor_id        uuid,
  actor_label     text NOT NULL,
  action          text NOT NULL,
  entity_type     text NOT NULL,
  entity_id       text,
  data            jsonb,
  client_ip       text,
  user_agent      text,
  correlation_id  text,
  prev_hash       text NOT NULL,
  hash            text NOT NULL,
  UNIQUE (tenant_id, seq)
);
CREATE INDEX audit_events_actor ON audit_events (tenant_id, actor_id, seq DESC);
CREATE INDEX audit_events_action ON audit_events (tenant_id, action, seq DESC);
CREATE INDEX audit_events_entity ON audit_events (tenant_id, entity_id, seq DESC);
CREATE INDEX audit_events_time ON audit_events (tenant_id, occurred_at DESC);

-- The last link of each tenant's chain; appending locks it, so a tenant's events are strictly ordered.
CREATE TABLE audit_heads (
  tenant_id  uuid PRIMARY KEY REFERENCES tenants (id),
  last_seq   bigint NOT NULL,
  last_hash  text NOT NULL
);

CREATE FUNCTION audit_canonical(e audit_events) RETURNS text
  LANGUAGE sql IMMUTABLE
  AS $$
    SELECT concat_ws(E'\x1f',
      e.tenant_id::text, e.seq::text, to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
      e.actor_type, coalesce(e.actor_id::text, ''), e.actor_label, e.action, e.entity_type, coalesce(e.entity_id, ''),
      coalesce(e.data::text, ''), coalesce(e.client_ip, ''), coalesce(e.user_agent, ''), coalesce(e.correlation_id, ''))
  $$;

CREATE FUNCTION audit_link(prev_hash text, e audit_events) RETURNS text
  LANGUAGE sql IMMUTABLE
  AS $$ SELECT encode(sha256(convert_to(prev_hash || audit_canonical(e), 'UTF8')), 'hex') $$;

-- Appends one event to the current tenant's chain (app.tenant_id must be set; RLS checks it).
CREATE FUNCTION audit_append(p_actor_type text, p_actor_id uuid, p_actor_label text, p_action text, p_entity_type text,
                             p_entity_id text, p_data jsonb, p_client_ip text, p_user_agent text, p_correlation_id text)
  RETURNS uuid
  LANGUAGE plpgsql
  AS $$
  DECLARE
    v_tenant uuid := app_tenant_id();
    v_seq bigint;
    v_prev text;
    v_event audit_events;
  BEGIN
    IF v_tenant IS NULL THEN
      RAISE EXCEPTION 'audit_append needs app.tenant_id';
    END IF;
    INSERT INTO audit_heads (tenant_id, last_seq, last_hash) VALUES (v_tenant, 0, repeat('0', 64))
      ON CONFLICT (tenant_id) DO NOTHING;
    SELECT last_seq, last_hash INTO v_seq, v_prev FROM audit_heads WHERE tenant_id = v_tenant FOR UPDATE;
    v_event := ROW(gen_random_uuid(), v_tenant, v_seq + 1, date_trunc('microseconds', clock_timestamp()), p_actor_type, p_actor_id,
                   left(p_actor_label, 320), p_action, p_entity_type, p_entity_id, p_data, left(p_client_ip, 64), left(p_user_agent, 512),
                   left(p_correlation_id, 64), v_prev, '');
    v_event.hash := audit_link(v_prev, v_event);
    INSERT INTO audit_events SELECT v_event.*;
    UPDATE audit_heads SET last_seq = v_event.seq, last_hash = v_event.hash WHERE tenant_id = v_tenant;
    RETURN v_event.id;
  END
  $$;

-- Append-only, also for the owner: changing history takes disabling this trigger, which verify then exposes.
CREATE FUNCTION audit_events_immutable() RETURNS trigger
  LANGUAGE plpgsql
  AS $$ BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_immutable();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_immutable();

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['audit_events', 'audit_heads']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END
$$;

-- The runtime role may read and append, never change or remove.
GRANT SELECT, INSERT ON audit_events TO dms_app;
GRANT SELECT, INSERT, UPDATE ON audit_heads TO dms_app;
GRANT EXECUTE ON FUNCTION audit_canonical(audit_events), audit_link(text, audit_events), audit_append(text, uuid, text, text, text, text, jsonb, text, text, text) TO dms_app;

-- Login throttling: failures per (tenant slug, e-mail), whether or not the account exists, so a lockout
-- answer reveals nothing. No tenant data: keys are SHA-256 hashes.
CREATE TABLE login_throttle (
  key_hash      bytea PRIMARY KEY,
  failures      integer NOT NULL DEFAULT 0,
  locked_until  timestamptz,
  updated_at    timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON login_throttle TO dms_app;

-- Personal API tokens: shown once, stored as SHA-256.
CREATE TABLE api_tokens (
  id            uuid PRIMARY KEY,
  tenant_id     uuid NOT NULL,
  user_id       uuid NOT NULL,
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  token_hash    bytea NOT NULL,
  scopes        text[] NOT NULL DEFAULT '{}',
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  last_used_at  timestamptz,
  revoked_at    timestamptz,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
  UNIQUE (tenant_id, token_hash)
);
CREATE INDEX api_tokens_user ON api_tokens (tenant_id, user_id);
ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_tokens USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON api_tokens TO dms_app;
