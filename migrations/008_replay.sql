-- Replay detection for every authenticated SOAP message (src/auth/replay.ts, docs/authentication.md).
-- One row per thing a message may use once: its WS-Addressing MessageID per principal, its
-- UsernameToken Nonce per principal (bound to the token's Created, so the same token may carry
-- several messages of one client run but a Nonce cannot come back with another Created), or its
-- XML signature value. Keys are SHA-256 hashes (16 bytes) so rows stay small whatever the client
-- sent; a row is kept only as long as a message carrying it could still pass the freshness check,
-- and purged in bounded batches by expires_at.
DROP TABLE IF EXISTS seen_nonces;
CREATE TABLE replay_seen (
  key         bytea PRIMARY KEY,
  -- Nonce rows: the Created the Nonce was first seen with; NULL for rows usable exactly once.
  bound       text,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX replay_seen_expires_idx ON replay_seen (expires_at);
