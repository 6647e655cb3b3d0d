-- A certificate manager's approval of a request that waits for one (a template with
-- pendAllRequests). Written by the admin role only: the CA signs such a request only when its
-- approval is here, and only the order it approved (order_digest, src/policy/issuance.ts
-- approvalDigest: template, requester, certificate request and names). Enrollment nodes write
-- requests, never approvals (docs/deployment.md, "What a compromised enrollment node can obtain").
CREATE TABLE request_approvals (
  request_id    bigint PRIMARY KEY REFERENCES requests(id),
  order_digest  text NOT NULL,
  approved_by   text NOT NULL,
  approved_at   timestamptz NOT NULL
);
