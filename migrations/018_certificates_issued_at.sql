-- The console's overview counts issuance per day over the last 30 days (GET /api/v1/overview):
-- without this index that read every certificate ever issued. issued_at only grows, so the index
-- is appended to at the right edge and costs an enrollment little.
CREATE INDEX IF NOT EXISTS certificates_issued_at_idx ON certificates (issued_at);
