-- Audit events written inside a caller's transaction land here first, without taking the chain
-- lock, and commit (or roll back) with the decision they record. The sequencer in
-- src/audit/log.ts moves committed rows into audit_events in batches, under the chain lock, giving
-- each its seq and hashes. Rows wait here for milliseconds; a crash leaves them for the next
-- sequencer run (every node runs one), so nothing recorded is lost.
CREATE TABLE audit_queue (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL,
  event       jsonb NOT NULL
);
