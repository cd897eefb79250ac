-- GET /documents sorts by created_at (documents_recent), updated_at or title, each with id as the tie-breaker
-- so that keyset pages stay exact; one index per sort serves both directions (backward scans).
CREATE INDEX documents_updated ON documents (tenant_id, updated_at DESC, id DESC);
CREATE INDEX documents_title ON documents (tenant_id, title, id);
