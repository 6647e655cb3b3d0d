-- Signed checkpoints of the audit chain head (src/audit/checkpoint.ts, docs/audit.md). The chain
-- shows a changed or removed event in its middle, but not that its newest events were cut off: a
-- checkpoint, signed with the audit signing key (not the CA key) on the node that holds the keys,
-- vouches for (seq, hash) of the head at a time. Each is also exported outside the database (a
-- file sink, the log, /pki/audit/checkpoint.json), so removing rows here and there is still found.

-- Certificates of audit signing keys, by SHA-256 fingerprint of the DER (issued by the issuing CA,
-- with the opences audit-signing EKU; verification never trusts a row here on its own).
CREATE TABLE audit_signers (
  fingerprint  text PRIMARY KEY,
  certificate  bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_checkpoints (
  id         bigserial PRIMARY KEY,
  seq        bigint NOT NULL,
  hash       text NOT NULL,
  at         timestamptz NOT NULL,
  signer     text NOT NULL REFERENCES audit_signers (fingerprint),
  -- base64 of the DER ECDSA signature over the checkpoint's canonical statement
  signature  text NOT NULL
);
CREATE INDEX audit_checkpoints_seq_idx ON audit_checkpoints (seq DESC, id DESC);
