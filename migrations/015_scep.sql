-- SCEP (RFC 8894, docs/scep.md).
-- One-time challenge passwords an administrator creates for a profile, optionally bound to the
-- subject the device must ask for. Only the SHA-256 of the challenge is kept (it carries 128
-- random bits: a plain hash is enough); it is consumed by the enrollment node in one UPDATE.
CREATE TABLE scep_challenges (
  id             text PRIMARY KEY,
  profile        text NOT NULL,
  bound_subject  text,
  secret_sha256  text NOT NULL UNIQUE,
  created_by     text NOT NULL,
  created_at     timestamptz NOT NULL,
  expires_at     timestamptz NOT NULL,
  used_at        timestamptz,
  used_by        text
);

-- A SCEP transaction (the client's transactionID, per profile) and the request it made: a resent
-- PKCSReq and a CertPoll find their request here, and only with the same signer key.
CREATE TABLE scep_transactions (
  profile            text NOT NULL,
  transaction_id     text NOT NULL,
  signer_key_sha256  text NOT NULL,
  request_id         bigint NOT NULL REFERENCES requests(id),
  created_at         timestamptz NOT NULL,
  PRIMARY KEY (profile, transaction_id)
);
