-- CA renewal and key rollover (opences ca renew, docs/ca-ceremonies.md). Each certificate an
-- issuing CA has had is one row of cas, numbered as ADCS numbers them: `generation` is the CA
-- certificate index (0 at installation, +1 at every renewal), `key_index` the generation at which
-- the row's key was new (a renewal that keeps the key keeps it). /pki/ names files after them:
-- `<ca>(generation).crt`, `<ca>(key_index).crl` (no suffix for 0). Certificates keep the ca_id of
-- the generation that signed them; CRLs are stored under the row whose generation = key_index and
-- cover every generation with that key. Rows of one CA share name and slug.
ALTER TABLE cas ADD COLUMN generation integer NOT NULL DEFAULT 0;
ALTER TABLE cas ADD COLUMN key_index integer NOT NULL DEFAULT 0;
ALTER TABLE cas DROP CONSTRAINT cas_name_key;
ALTER TABLE cas DROP CONSTRAINT cas_slug_key;
CREATE UNIQUE INDEX cas_slug_generation_idx ON cas (slug, generation);
-- An intermediate (policy) CA between a root held elsewhere and the issuing CA (opences ca install
-- --chain with root and intermediate): recorded for chains and /pki/, never signed with here.
ALTER TABLE cas DROP CONSTRAINT cas_kind_check;
ALTER TABLE cas ADD CONSTRAINT cas_kind_check CHECK (kind IN ('root', 'intermediate', 'issuing'));
