-- Browser sessions of the operator console (/console, admin nodes) and of web enrollment
-- (/enroll, ces nodes): src/http/web/sessions.ts, docs/web.md. The cookie carries a random
-- 256-bit secret; only its SHA-256 is kept here, so a copy of this table signs no one in.
-- `endpoint` binds the session to the TLS endpoint that created it (SHA-256 of the server's TLS
-- certificate and the listening port): a cookie presented anywhere else is refused.
CREATE TABLE web_sessions (
  id_hash       text PRIMARY KEY,
  channel       text NOT NULL CHECK (channel IN ('console', 'enroll')),
  principal     text NOT NULL,
  role          text,
  auth_method   text NOT NULL,
  credential    text,
  csrf_token    text NOT NULL,
  endpoint      text NOT NULL,
  address       text,
  created_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  last_seen_at  timestamptz NOT NULL
);
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);
