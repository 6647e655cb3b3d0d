-- Who a request (and so the certificate issued for it) belongs to, canonically (src/auth/identity.ts):
-- the kind of principal and its canonical key, e.g. ('account', 'account:alice'),
-- ('kerberos', 'kerberos:alice@EXAMPLE.COM'), ('partner', 'partner:acme/bob@acme.example').
-- Certificate authentication, renewal ownership and separation of duties compare these, never
-- spellings, and never names parsed back out of a certificate. Rows recorded before this column
-- existed have NULLs; the code infers them from requester and auth_method.
ALTER TABLE requests ADD COLUMN requester_kind text;
ALTER TABLE requests ADD COLUMN requester_key text;
CREATE INDEX requests_requester_key_idx ON requests (requester_key);
-- Account names compare without regard to case (src/auth/accounts.ts getAccountForLogin, src/auth/identity.ts findAccount).
CREATE INDEX accounts_lower_name_idx ON accounts (lower(name));
