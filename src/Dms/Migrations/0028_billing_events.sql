-- The billing provider's events (issue 17), kept for audit and replay. Owned by the Billing module (Modules/Billing).
-- A delivery is stored and committed first (with an outbox message billing.apply in the same transaction), then
-- applied: inline for a fast answer, or by the outbox handler after a crash. applied_at set means done.
CREATE TABLE billing_events (
  tenant_id    uuid NOT NULL REFERENCES tenants (id),
  -- The provider's event id: the idempotency key. A duplicate delivery meets this key and changes nothing.
  id           text NOT NULL CHECK (length(id) BETWEEN 1 AND 200),
  type         text NOT NULL CHECK (length(type) BETWEEN 1 AND 200),
  -- The provider's own time of the event: events are applied in this order (tenant_subscriptions.last_event_created).
  created      timestamptz NOT NULL,
  payload      jsonb NOT NULL,
  received_at  timestamptz NOT NULL,
  applied_at   timestamptz,
  outcome      text CHECK (outcome IN ('Applied', 'Stale', 'Ignored', 'NotApplicable')),
  CHECK ((applied_at IS NULL) = (outcome IS NULL)),
  PRIMARY KEY (tenant_id, id)
);
ALTER TABLE billing_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE billing_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON billing_events USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON billing_events TO dms_app;
-- The runbook's "events stuck unapplied" query.
CREATE INDEX billing_events_unapplied ON billing_events (received_at) WHERE applied_at IS NULL;
