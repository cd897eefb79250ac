-- Audit events are recorded in the business transaction without touching the tenant's chain head, and chained
-- shortly after, many at a time, by one chainer per tenant (ADR 0038, superseding the append part of ADR 0009/0012).
-- A recorded event has no seq, prev_hash or hash yet ("pending"); chaining gives it all three, once, through
-- audit_chain below. The hash definition (audit_link / audit_canonical) is unchanged, so existing chains verify.

ALTER TABLE audit_events ALTER COLUMN seq DROP NOT NULL, ALTER COLUMN prev_hash DROP NOT NULL, ALTER COLUMN hash DROP NOT NULL;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_sealed_whole
  CHECK ((seq IS NULL) = (prev_hash IS NULL) AND (seq IS NULL) = (hash IS NULL)) NOT VALID;
ALTER TABLE audit_events VALIDATE CONSTRAINT audit_events_sealed_whole;

-- The order in which events were recorded (a sequence, so without any lock): pending events are chained and listed in
-- it. Events chained before this migration have none; their order is their seq.
CREATE SEQUENCE audit_events_recorded;
ALTER TABLE audit_events ADD COLUMN recorded bigint;
ALTER TABLE audit_events ALTER COLUMN recorded SET DEFAULT nextval('audit_events_recorded');
-- Small: only the not-yet-chained tail of each tenant is in it.
CREATE INDEX audit_events_pending ON audit_events (tenant_id, recorded) WHERE seq IS NULL;

-- Records one event for the current tenant (app.tenant_id must be set; RLS checks it), pending. The head is only
-- read (and created with the tenant's very first event), never locked: a tenant's writers no longer wait for each
-- other. The notification, delivered on commit only, wakes every node's chainer; it is sent only when no other
-- pending event of the tenant is visible, because PostgreSQL serialises the commits of notifying transactions (a
-- notification per event would bring back a per-commit queue): while events keep coming, the woken chainer keeps
-- polling the tenant, and the periodic sweep catches the rest.
CREATE OR REPLACE FUNCTION audit_append(p_actor_type text, p_actor_id uuid, p_actor_label text, p_action text, p_entity_type text,
                                        p_entity_id text, p_data jsonb, p_client_ip text, p_user_agent text, p_correlation_id text)
  RETURNS uuid
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = public, pg_temp
  AS $$
  DECLARE
    v_tenant uuid := app_tenant_id();
    v_id uuid := gen_random_uuid();
  BEGIN
    IF v_tenant IS NULL THEN
      RAISE EXCEPTION 'audit_append needs app.tenant_id';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM audit_heads WHERE tenant_id = v_tenant) THEN
      INSERT INTO audit_heads (tenant_id, last_seq, last_hash) VALUES (v_tenant, 0, repeat('0', 64)) ON CONFLICT (tenant_id) DO NOTHING;
    END IF;
    INSERT INTO audit_events (id, tenant_id, occurred_at, actor_type, actor_id, actor_label, action, entity_type, entity_id, data,
                              client_ip, user_agent, correlation_id)
    VALUES (v_id, v_tenant, date_trunc('microseconds', clock_timestamp()), p_actor_type, p_actor_id, left(p_actor_label, 320), p_action,
            p_entity_type, p_entity_id, p_data, left(p_client_ip, 64), left(p_user_agent, 512), left(p_correlation_id, 64));
    IF NOT EXISTS (SELECT 1 FROM audit_events WHERE tenant_id = v_tenant AND seq IS NULL AND id <> v_id) THEN
      PERFORM pg_notify('dms_audit', replace(v_tenant::text, '-', ''));
    END IF;
    RETURN v_id;
  END
  $$;

-- Chains up to p_limit pending events of the current tenant, in recorded order, in the caller's transaction. The head
-- row lock makes chainers of one tenant take turns (any node): the second one waits, then reads the pending events
-- anew (a new statement, a new snapshot) and finds the first one's events chained. Returns each chained event's seq
-- and how long it waited since it was recorded.
CREATE FUNCTION audit_chain(p_limit integer)
  RETURNS TABLE (chained_seq bigint, waited_seconds double precision)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = public, pg_temp
  AS $$
  DECLARE
    v_tenant uuid := app_tenant_id();
    v_seq bigint;
    v_prev text;
    v_event audit_events;
    v_rows integer;
  BEGIN
    IF v_tenant IS NULL THEN
      RAISE EXCEPTION 'audit_chain needs app.tenant_id';
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 10000 THEN
      RAISE EXCEPTION 'audit_chain: invalid limit';
    END IF;
    -- Nothing to chain (a polling chainer, most of the time): no head lock, no write at all.
    IF NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.tenant_id = v_tenant AND e.seq IS NULL) THEN
      RETURN;
    END IF;
    INSERT INTO audit_heads (tenant_id, last_seq, last_hash) VALUES (v_tenant, 0, repeat('0', 64)) ON CONFLICT (tenant_id) DO NOTHING;
    SELECT h.last_seq, h.last_hash INTO v_seq, v_prev FROM audit_heads h WHERE h.tenant_id = v_tenant FOR UPDATE;
    FOR v_event IN
      SELECT * FROM audit_events e WHERE e.tenant_id = v_tenant AND e.seq IS NULL ORDER BY e.recorded, e.id LIMIT p_limit
    LOOP
      v_seq := v_seq + 1;
      v_event.seq := v_seq;
      v_event.prev_hash := v_prev;
      v_event.hash := audit_link(v_prev, v_event);
      UPDATE audit_events e SET seq = v_event.seq, prev_hash = v_event.prev_hash, hash = v_event.hash
        WHERE e.id = v_event.id AND e.seq IS NULL;
      GET DIAGNOSTICS v_rows = ROW_COUNT;
      IF v_rows <> 1 THEN
        RAISE EXCEPTION 'audit_chain: event % was chained by someone else', v_event.id;
      END IF;
      v_prev := v_event.hash;
      chained_seq := v_seq;
      waited_seconds := extract(epoch FROM clock_timestamp() - v_event.occurred_at);
      RETURN NEXT;
    END LOOP;
    UPDATE audit_heads h SET last_seq = v_seq, last_hash = v_prev WHERE h.tenant_id = v_tenant AND h.last_seq <> v_seq;
  END
  $$;

-- Which tenants have pending events, how many and since when (for the chainers' sweep and the backlog gauges). The
-- runtime role sees one tenant at a time (RLS is forced, on the owner too), so this visits each tenant's slice of the
-- small pending index in turn; it returns no event content.
CREATE FUNCTION audit_pending_tenants()
  RETURNS TABLE (tenant_id uuid, pending bigint, oldest_seconds double precision)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = public, pg_temp
  AS $$
  #variable_conflict use_column
  DECLARE
    v_before text := current_setting('app.tenant_id', true);
    v_tenant uuid;
    v_count bigint;
    v_oldest timestamptz;
  BEGIN
    FOR v_tenant IN SELECT t.id FROM tenants t ORDER BY t.id LOOP
      PERFORM set_config('app.tenant_id', v_tenant::text, true);
      SELECT count(*), min(e.occurred_at) INTO v_count, v_oldest FROM audit_events e WHERE e.tenant_id = v_tenant AND e.seq IS NULL;
      IF v_count > 0 THEN
        tenant_id := v_tenant;
        pending := v_count;
        oldest_seconds := extract(epoch FROM clock_timestamp() - v_oldest);
        RETURN NEXT;
      END IF;
    END LOOP;
    PERFORM set_config('app.tenant_id', coalesce(v_before, ''), true);
  END
  $$;

-- Still append-only, also for the owner; the one change allowed is sealing a pending event: giving it seq, prev_hash
-- and a hash that matches its content, with every other column unchanged. Content can never be altered this way.
CREATE OR REPLACE FUNCTION audit_events_immutable() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
       AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash = audit_link(NEW.prev_hash, NEW)
       AND (to_jsonb(NEW) - ARRAY['seq', 'prev_hash', 'hash']) = (to_jsonb(OLD) - ARRAY['seq', 'prev_hash', 'hash']) THEN
      RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only';
  END
  $$;

REVOKE ALL ON FUNCTION audit_chain(integer), audit_pending_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_chain(integer), audit_pending_tenants() TO dms_app;
