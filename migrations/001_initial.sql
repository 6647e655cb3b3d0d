-- opences initial schema. Plain SQL that runs unchanged on PostgreSQL 15+ and PGlite.

-- Key/value settings that identify the deployment (policy id, enterprise OID arc...).
CREATE TABLE settings (
  key         text PRIMARY KEY,
  value       jsonb NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Certification authorities this deployment runs (root and issuing). The private key lives in a
-- KeyStore; key_ref names it there (never the key itself).
CREATE TABLE cas (
  id           serial PRIMARY KEY,
  name         text NOT NULL UNIQUE,
  slug         text NOT NULL UNIQUE,
  kind         text NOT NULL CHECK (kind IN ('root', 'issuing')),
  parent_id    integer REFERENCES cas(id),
  certificate  bytea NOT NULL,
  key_ref      text NOT NULL,
  key_type     text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);

-- Certificate templates: the semantic model as JSON (src/policy/template.ts).
CREATE TABLE templates (
  name        text PRIMARY KEY,
  oid         text NOT NULL UNIQUE,
  enabled     boolean NOT NULL DEFAULT true,
  definition  jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Local accounts for UsernameToken authentication (password hashes only, scrypt).
CREATE TABLE accounts (
  name           text PRIMARY KEY,
  password_hash  text,
  groups         text[] NOT NULL DEFAULT '{}',
  email          text,
  disabled       boolean NOT NULL DEFAULT false,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Enrollment requests. The id is the CA RequestID clients poll with (one sequence for all nodes).
CREATE SEQUENCE request_id_seq START 1;
CREATE TABLE requests (
  id                   bigint PRIMARY KEY DEFAULT nextval('request_id_seq'),
  status               text NOT NULL CHECK (status IN ('pending', 'issued', 'denied', 'failed')),
  requester            text NOT NULL,
  auth_method          text NOT NULL,
  client_address       text,
  template             text,
  request_format       text NOT NULL CHECK (request_format IN ('pkcs10', 'cmc', 'pkcs7')),
  raw_request          bytea NOT NULL,
  csr_der              bytea,
  csr_sha256           text,
  -- the RA's decision (IssuanceOrder minus the CSR), kept so that approval can sign it later
  issuance_order       jsonb,
  disposition          integer NOT NULL,
  disposition_message  text NOT NULL,
  error_code           bigint,
  serial               text,
  renewal_of           text,
  attributes           jsonb NOT NULL DEFAULT '{}',
  submitted_at         timestamptz NOT NULL DEFAULT now(),
  resolved_at          timestamptz,
  resolved_by          text
);
CREATE INDEX requests_status_idx ON requests (status, submitted_at);
CREATE INDEX requests_requester_csr_idx ON requests (requester, csr_sha256);

-- Issued certificates. request_id is the issuance order's idempotency key: one certificate per order.
CREATE TABLE certificates (
  serial             text PRIMARY KEY,
  ca_id              integer NOT NULL REFERENCES cas(id),
  request_id         bigint UNIQUE REFERENCES requests(id),
  subject            text NOT NULL,
  sans               text[] NOT NULL DEFAULT '{}',
  template           text,
  requester          text,
  not_before         timestamptz NOT NULL,
  not_after          timestamptz NOT NULL,
  der                bytea NOT NULL,
  issued_at          timestamptz NOT NULL DEFAULT now(),
  revoked_at         timestamptz,
  revocation_reason  integer
);
CREATE INDEX certificates_requester_idx ON certificates (requester);
CREATE INDEX certificates_not_after_idx ON certificates (not_after);
CREATE INDEX certificates_revoked_idx ON certificates (ca_id) WHERE revoked_at IS NOT NULL;

-- Published CRLs (full and delta) per CA; number is the CRLNumber.
CREATE TABLE crls (
  ca_id        integer NOT NULL REFERENCES cas(id),
  number       bigint NOT NULL,
  delta        boolean NOT NULL DEFAULT false,
  this_update  timestamptz NOT NULL,
  next_update  timestamptz NOT NULL,
  der          bytea NOT NULL,
  PRIMARY KEY (ca_id, number)
);

-- Append-only audit log; each row carries the hash of the previous one (a hash chain).
CREATE TABLE audit_events (
  seq         bigserial PRIMARY KEY,
  at          timestamptz NOT NULL,
  type        text NOT NULL,
  outcome     text NOT NULL,
  actor       text,
  principal   text,
  method      text,
  address     text,
  template    text,
  request_id  bigint,
  serial      text,
  reason      text,
  details     jsonb NOT NULL DEFAULT '{}',
  prev_hash   text NOT NULL,
  hash        text NOT NULL
);
CREATE INDEX audit_events_type_idx ON audit_events (type, at);

-- WS-Security UsernameToken nonces seen (replay protection across nodes).
CREATE TABLE seen_nonces (
  nonce       text PRIMARY KEY,
  expires_at  timestamptz NOT NULL
);
