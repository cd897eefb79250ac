-- Webhooks (issue 15): endpoints registered by tenant admins, events published in the transaction of the change
-- they report, one delivery per subscribed endpoint, and a log of every attempt. Owned by the Webhooks module.

-- An endpoint. secret and previous_secret are Data Protection payloads (never the plain secret); previous_secret
-- stays valid for signing until previous_secret_until (rotation overlap). circuit is the breaker: Open pauses the
-- endpoint's deliveries (they wait) until a probe succeeds or an admin resumes it.
CREATE TABLE webhook_endpoints (
  tenant_id               uuid NOT NULL REFERENCES tenants (id),
  id                      uuid NOT NULL,
  url                     text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
  description             text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  events                  text[] NOT NULL,
  enabled                 boolean NOT NULL DEFAULT true,
  secret                  text NOT NULL,
  previous_secret         text,
  previous_secret_until   timestamptz,
  circuit                 text NOT NULL DEFAULT 'Closed' CHECK (circuit IN ('Closed', 'Open')),
  consecutive_failures    integer NOT NULL DEFAULT 0,
  circuit_opened_at       timestamptz,
  probe_at                timestamptz,
  created_at              timestamptz NOT NULL DEFAULT now(),
  created_by              uuid,
  updated_at              timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

-- An event, written only when at least one endpoint subscribes to it. sequence is assigned at insert: two changes of
-- the same document are serialised by the document's row lock, so their sequence order is their commit order.
CREATE TABLE webhook_events (
  tenant_id    uuid NOT NULL REFERENCES tenants (id),
  id           uuid NOT NULL,
  sequence     bigint GENERATED ALWAYS AS IDENTITY,
  type         text NOT NULL,
  data         jsonb NOT NULL,
  occurred_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_events_occurred ON webhook_events (occurred_at);

-- One delivery of one event to one endpoint; the unique key makes a repeated fan-out add nothing.
CREATE TABLE webhook_deliveries (
  tenant_id      uuid NOT NULL,
  id             uuid NOT NULL,
  endpoint_id    uuid NOT NULL,
  event_id       uuid NOT NULL,
  status         text NOT NULL DEFAULT 'Pending' CHECK (status IN ('Pending', 'Sending', 'Delivered', 'Dead')),
  attempts       integer NOT NULL DEFAULT 0,
  available_at   timestamptz NOT NULL DEFAULT now(),
  locked_by      text,
  locked_until   timestamptz,
  last_status    integer,
  last_error     text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  finished_at    timestamptz,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, endpoint_id, event_id),
  FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, event_id) REFERENCES webhook_events (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (available_at) WHERE status IN ('Pending', 'Sending');
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (tenant_id, endpoint_id, created_at DESC);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (tenant_id, event_id);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at) WHERE status IN ('Delivered', 'Dead');

-- The delivery log: one row per attempt.
CREATE TABLE webhook_attempts (
  tenant_id     uuid NOT NULL,
  id            bigint GENERATED ALWAYS AS IDENTITY,
  delivery_id   uuid NOT NULL,
  endpoint_id   uuid NOT NULL,
  attempt       integer NOT NULL,
  at            timestamptz NOT NULL DEFAULT now(),
  status_code   integer,
  latency_ms    integer NOT NULL,
  error         text,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, delivery_id) REFERENCES webhook_deliveries (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (tenant_id, delivery_id, attempt);
CREATE INDEX webhook_attempts_at ON webhook_attempts (at);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['webhook_endpoints', 'webhook_events', 'webhook_deliveries', 'webhook_attempts']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
    -- The definer functions below run as the schema owner, whom FORCE holds too (as for outbox_messages, 0007).
    EXECUTE format('CREATE POLICY schema_owner ON %I TO %I USING (true) WITH CHECK (true)', t, current_user);
  END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints, webhook_deliveries TO dms_app;
GRANT SELECT, INSERT ON webhook_events, webhook_attempts TO dms_app;

-- The delivery worker's only cross-tenant access: lease due deliveries of every tenant. An endpoint gets at most
-- p_per_endpoint deliveries in flight (a slow receiver holds only its own share of the worker); a paused endpoint
-- (circuit Open) gets none, but one probe when its probe time has come, and that moves its next probe on.
CREATE FUNCTION webhook_claim(p_node text, p_batch integer, p_lease interval, p_per_endpoint integer, p_probe_every interval)
  RETURNS TABLE (id uuid, tenant_id uuid, endpoint_id uuid, event_id uuid, attempts integer)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = public, pg_temp
  AS $$
  #variable_conflict use_column
  DECLARE
    picked uuid[];
  BEGIN
    IF p_node IS NULL OR length(p_node) = 0 OR p_batch NOT BETWEEN 1 AND 1000 OR p_lease <= interval '0' OR p_per_endpoint < 1 THEN
      RAISE EXCEPTION 'webhook_claim: invalid arguments';
    END IF;
    WITH flight AS (
      SELECT f.tenant_id, f.endpoint_id, count(*) AS n FROM webhook_deliveries f
      WHERE f.status = 'Sending' AND f.locked_until >= now()
      GROUP BY f.tenant_id, f.endpoint_id
    ), due AS (
      SELECT d.id, d.tenant_id, d.endpoint_id, e.circuit, coalesce(fl.n, 0) AS in_flight,
             row_number() OVER (PARTITION BY d.tenant_id, d.endpoint_id ORDER BY d.available_at, d.id) AS rn,
             d.available_at
      FROM webhook_deliveries d
      JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
      LEFT JOIN flight fl ON fl.tenant_id = d.tenant_id AND fl.endpoint_id = d.endpoint_id
      WHERE ((d.status = 'Pending' AND d.available_at <= now()) OR (d.status = 'Sending' AND d.locked_until < now()))
        AND e.enabled
        AND (e.circuit = 'Closed' OR e.probe_at <= now())
    )
    SELECT array_agg(x.id) INTO picked FROM (
      SELECT due.id FROM due
      WHERE (due.circuit = 'Closed' AND due.rn + due.in_flight <= p_per_endpoint)
         OR (due.circuit = 'Open' AND due.rn = 1 AND due.in_flight = 0)
      ORDER BY due.available_at, due.id
      LIMIT p_batch) x;
    IF picked IS NULL THEN
      RETURN;
    END IF;
    RETURN QUERY
      WITH locked AS (
        SELECT l.id, l.tenant_id FROM webhook_deliveries l
        WHERE l.id = ANY(picked) AND (l.status = 'Pending' OR (l.status = 'Sending' AND l.locked_until < now()))
        FOR UPDATE SKIP LOCKED
      ), claimed AS (
        UPDATE webhook_deliveries d
        SET status = 'Sending', locked_by = p_node, locked_until = now() + p_lease, attempts = d.attempts + 1
        FROM locked WHERE d.tenant_id = locked.tenant_id AND d.id = locked.id
        RETURNING d.id, d.tenant_id, d.endpoint_id, d.event_id, d.attempts
      ), probes AS (
        UPDATE webhook_endpoints e SET probe_at = now() + p_probe_every
        FROM claimed WHERE e.tenant_id = claimed.tenant_id AND e.id = claimed.endpoint_id AND e.circuit = 'Open'
      )
      SELECT claimed.id, claimed.tenant_id, claimed.endpoint_id, claimed.event_id, claimed.attempts FROM claimed;
  END
  $$;
REVOKE ALL ON FUNCTION webhook_claim(text, integer, interval, integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_claim(text, integer, interval, integer, interval) TO dms_app;

-- The log and finished deliveries are kept for a set time, in every tenant at once; events go with their last delivery.
CREATE FUNCTION webhook_cleanup(p_keep interval)
  RETURNS integer
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = public, pg_temp
  AS $$
  DECLARE
    n integer;
  BEGIN
    IF p_keep IS NULL OR p_keep < interval '1 minute' THEN
      RAISE EXCEPTION 'webhook_cleanup: invalid arguments';
    END IF;
    DELETE FROM webhook_attempts WHERE at < now() - p_keep;
    DELETE FROM webhook_deliveries WHERE status IN ('Delivered', 'Dead') AND finished_at < now() - p_keep;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM webhook_events ev WHERE ev.occurred_at < now() - p_keep
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.tenant_id = ev.tenant_id AND d.event_id = ev.id);
    RETURN n;
  END
  $$;
REVOKE ALL ON FUNCTION webhook_cleanup(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_cleanup(interval) TO dms_app;
