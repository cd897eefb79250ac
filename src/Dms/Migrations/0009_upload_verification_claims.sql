-- Completing a direct upload verifies (joins, moves, hashes) its bytes outside any transaction: a short
-- transaction claims the session (Pending -> Verifying, with a claim id and a lease), the storage work runs
-- with no row locked, a second short transaction finishes it only if the claim is still the same. A node
-- that dies mid-verification leaves the claim to lapse; reconciliation puts the session back to Pending
-- (and expires it when its time is up), so its bytes stay referenced until then.
ALTER TABLE upload_sessions DROP CONSTRAINT upload_sessions_status_check;
ALTER TABLE upload_sessions ADD CONSTRAINT upload_sessions_status_check
  CHECK (status IN ('Pending', 'Verifying', 'Completed', 'Aborted', 'Expired', 'Failed'));
ALTER TABLE upload_sessions ADD COLUMN claim_id uuid;
ALTER TABLE upload_sessions ADD COLUMN claimed_until timestamptz;
CREATE INDEX upload_sessions_verifying ON upload_sessions (tenant_id, claimed_until) WHERE status = 'Verifying';
