-- Least-privilege roles (src/store/db-roles.ts, docs/deployment.md): no role may UPDATE or DELETE
-- chained audit events, and queued ones (audit_queue) may be deleted only by the sequencer that
-- chains them, in the same transaction. The chained row names the queue row it came from, and a
-- trigger refuses to delete a queued event no chained row names — so even a role allowed to chain
-- (ca, admin) cannot drop another node's event before it is chained.
ALTER TABLE audit_events ADD COLUMN queue_id bigint;
CREATE UNIQUE INDEX audit_events_queue_id_idx ON audit_events (queue_id) WHERE queue_id IS NOT NULL;

CREATE FUNCTION audit_queue_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM audit_events WHERE queue_id = OLD.id) THEN
    RAISE EXCEPTION 'queued audit event % is not chained: only the sequencer that chains it may delete it', OLD.id
      USING ERRCODE = '42501';
  END IF;
  RETURN OLD;
END
$$;
CREATE TRIGGER audit_queue_guard BEFORE DELETE ON audit_queue FOR EACH ROW EXECUTE FUNCTION audit_queue_guard();
