-- Partner organisations: their own trust roots, how a certificate maps to a principal, and the
-- templates their principals may use (nothing outside that scope, whatever the template ACLs say).
CREATE TABLE partners (
  name        text PRIMARY KEY,
  roots       bytea[] NOT NULL,
  map_from    text NOT NULL CHECK (map_from IN ('upn', 'email', 'dns', 'cn')),
  templates   text[] NOT NULL DEFAULT '{}',
  enabled     boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now()
);
