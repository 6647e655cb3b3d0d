-- Revocation of partner certificates: the partner's own CRLs, loaded from files by an operator or
-- fetched from the partner's CRL distribution URLs and cached here (shared by every node).
ALTER TABLE partners ADD COLUMN intermediates bytea[] NOT NULL DEFAULT '{}';
ALTER TABLE partners ADD COLUMN crl_urls text[] NOT NULL DEFAULT '{}';
-- How long past its nextUpdate a partner CRL is still used; after that the partner's certificates are refused.
ALTER TABLE partners ADD COLUMN crl_grace_seconds integer NOT NULL DEFAULT 0 CHECK (crl_grace_seconds >= 0);
-- 'leaf': the client certificate is checked against its issuer's CRL; 'chain': every certificate below the root.
ALTER TABLE partners ADD COLUMN crl_check text NOT NULL DEFAULT 'leaf' CHECK (crl_check IN ('leaf', 'chain'));

CREATE TABLE partner_crls (
  id           bigserial PRIMARY KEY,
  partner      text NOT NULL REFERENCES partners (name) ON DELETE CASCADE,
  source       text NOT NULL CHECK (source IN ('file', 'url')),
  url          text,
  -- the CRL issuer's Name as text (RFC 4514), to find the CRL for a certificate's issuer
  issuer_name  text NOT NULL,
  der          bytea NOT NULL,
  this_update  timestamptz NOT NULL,
  next_update  timestamptz,
  fetched_at   timestamptz NOT NULL DEFAULT now(),
  CHECK ((source = 'url') = (url IS NOT NULL))
);
CREATE UNIQUE INDEX partner_crls_url ON partner_crls (partner, url) WHERE source = 'url';
CREATE INDEX partner_crls_partner ON partner_crls (partner);
