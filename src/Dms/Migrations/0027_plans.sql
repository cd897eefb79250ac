-- Plans and subscriptions (issue 17). Owned by the Billing module (Modules/Billing).

-- A plan, defined by the platform operator (X-Platform-Key). Null limits mean "no limit". Platform data shared by
-- every tenant, like `tenants`: no tenant_id, no row-level security; the runtime role only reads and inserts.
CREATE TABLE plans (
  id              uuid PRIMARY KEY,
  name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
  seats           integer CHECK (seats >= 1),
  storage_bytes   bigint CHECK (storage_bytes >= 0),
  max_file_bytes  bigint CHECK (max_file_bytes >= 1),
  -- Feature switches by name (shareLinks, webhooks); a missing name is on.
  features        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(features) = 'object'),
  trial_days      integer NOT NULL DEFAULT 14 CHECK (trial_days BETWEEN 0 AND 365),
  created_at      timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT ON plans TO dms_app;

-- A tenant's plan and subscription state (SubscriptionStates). No row: the tenant has no plan, no limits and is
-- treated as active (self-hosted installs, and every tenant made before plans existed).
CREATE TABLE tenant_subscriptions (
  tenant_id             uuid PRIMARY KEY REFERENCES tenants (id),
  plan_id               uuid NOT NULL REFERENCES plans (id),
  status                text NOT NULL CHECK (status IN ('Trialing', 'Active', 'PastDue', 'Paused', 'Canceled')),
  status_changed_at     timestamptz NOT NULL,
  trial_ends_at         timestamptz,
  past_due_since        timestamptz,
  canceled_at           timestamptz,
  deletion_scheduled_at timestamptz,
  current_period_end    timestamptz,
  -- The provider's order of the last billing event applied: an older event arriving late changes nothing.
  last_event_created    timestamptz,
  last_event_id         text,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenant_subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_subscriptions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_subscriptions USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON tenant_subscriptions TO dms_app;
CREATE INDEX tenant_subscriptions_trial_end ON tenant_subscriptions (trial_ends_at) WHERE status = 'Trialing';
