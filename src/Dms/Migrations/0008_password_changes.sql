-- Passwords can be changed by their owner and reset by an admin (or the `user reset-password` CLI verb); a reset
-- (and the generated bootstrap password) must be replaced at the next sign-in.
ALTER TABLE users
  ADD COLUMN must_change_password boolean NOT NULL DEFAULT false,
  ADD COLUMN password_changed_at  timestamptz;
