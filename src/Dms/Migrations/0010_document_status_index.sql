-- GET /documents?status=…: an equality on status is LEAKPROOF, so under row-level security this index serves the filter
-- in list order instead of walking the whole tenant through documents_recent (issue 12; QueryPlanTests holds it).
CREATE INDEX documents_by_status ON documents (tenant_id, status, created_at DESC, id DESC);
