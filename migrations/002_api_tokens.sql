-- Admin API tokens: shown once, stored as SHA-256 of the secret part, expiring and revocable.
CREATE TABLE api_tokens (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  role        text NOT NULL CHECK (role IN ('ca-admin', 'cert-manager', 'auditor')),
  principal   text NOT NULL,
  secret_hash text NOT NULL,
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz,
  revoked_at  timestamptz,
  last_used_at timestamptz
);
