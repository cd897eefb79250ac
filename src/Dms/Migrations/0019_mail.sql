-- E-mail notifications (issue 15): what each user wants per notification kind, their digest choice, and one row per
-- e-mail owed to a recipient. That row is the dedupe of "one mail per notification and recipient" (unique on the
-- notification's outbox message and the user), records whether it was sent or skipped, and holds the items that
-- wait for a daily digest. All owned by the Notifications module.

-- Only the kinds a user changed are stored; the rest take the defaults in NotificationKinds.
CREATE TABLE notification_preferences (
  tenant_id   uuid NOT NULL,
  user_id     uuid NOT NULL,
  kind        text NOT NULL CHECK (length(kind) BETWEEN 1 AND 100),
  in_app      boolean NOT NULL,
  email       boolean NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id, kind),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);

CREATE TABLE notification_settings (
  tenant_id       uuid NOT NULL,
  user_id         uuid NOT NULL,
  digest          text NOT NULL DEFAULT 'none' CHECK (digest IN ('none', 'daily')),
  -- The day (UTC) of the last digest made for the user: one a day however many worker nodes run the job.
  last_digest_on  date,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);

CREATE TABLE mail_deliveries (
  tenant_id       uuid NOT NULL,
  id              uuid NOT NULL,
  user_id         uuid NOT NULL,
  -- The notification.send outbox message this mail reports: with user_id, the deterministic Message-ID.
  source_id       uuid NOT NULL,
  kind            text NOT NULL,
  title           text NOT NULL,
  body            text NOT NULL,
  document_id     uuid,
  approval_id     uuid,
  -- Waits for the user's daily digest instead of going out on its own.
  digest          boolean NOT NULL DEFAULT false,
  digest_id       uuid,
  created_at      timestamptz NOT NULL DEFAULT now(),
  sent_at         timestamptz,
  -- Why it was not sent when its turn came (user disabled, lost access, turned e-mail off meanwhile).
  skipped_reason  text,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, source_id, user_id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX mail_deliveries_digest_pending ON mail_deliveries (tenant_id, user_id)
  WHERE digest AND digest_id IS NULL AND sent_at IS NULL AND skipped_reason IS NULL;
CREATE INDEX mail_deliveries_digest ON mail_deliveries (tenant_id, digest_id) WHERE digest_id IS NOT NULL;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['notification_preferences', 'notification_settings', 'mail_deliveries']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON notification_preferences, notification_settings TO dms_app;
GRANT SELECT, INSERT, UPDATE ON mail_deliveries TO dms_app;
