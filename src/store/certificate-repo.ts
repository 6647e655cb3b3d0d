import { statement, type Db, type Queryable } from './db.js';
import { combinedWrites, type WriteKind } from './combined-writes.js';

export interface CertificateRecord {
  serial: string;
  caId: number;
  requestId: string | null;
  subject: string;
  sans: string[];
  template: string | null;
  requester: string | null;
  notBefore: Date;
  notAfter: Date;
  der: Uint8Array;
  issuedAt: Date;
  revokedAt: Date | null;
  revocationReason: number | null;
}

interface DbRow {
  serial: string;
  ca_id: number;
  request_id: string | null;
  subject: string;
  sans: string[];
  template: string | null;
  requester: string | null;
  not_before: Date | string;
  not_after: Date | string;
  der: Uint8Array;
  issued_at: Date | string;
  revoked_at: Date | string | null;
  revocation_reason: number | null;
}

const COLS = `serial, ca_id, request_id::text AS request_id, subject, sans, template, requester, not_before, not_after, der, issued_at, revoked_at, revocation_reason`;

const toRecord = (r: DbRow): CertificateRecord => ({
  serial: r.serial,
  caId: r.ca_id,
  requestId: r.request_id,
  subject: r.subject,
  sans: r.sans ?? [],
  template: r.template,
  requester: r.requester,
  notBefore: new Date(r.not_before),
  notAfter: new Date(r.not_after),
  der: new Uint8Array(r.der),
  issuedAt: new Date(r.issued_at),
  revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at),
  revocationReason: r.revocation_reason,
});

export type NewCertificate = Omit<CertificateRecord, 'issuedAt' | 'revokedAt' | 'revocationReason'>;

/**
 * The issuance fast path, for several orders in one statement (src/store/combined-writes.ts). Per order:
 * if its request is still pending, recorded this CSR, for this template, requester and SID, and — when
 * the template or the request says it waits for a certificate manager — carries an approval of
 * this very order (request_approvals, written by the admin role only), insert the
 * certificate and mark the request issued, under the request's row lock, and with an audit event
 * park it (its serial filled in) in the audit queue. Answers per order 'issued', 'collision' (the
 * serial exists: draw another) or 'notPending' (gone, resolved, another CSR, or already issued by
 * a concurrent retry: take the careful path).
 * Request ids must be distinct in a statement (the kind's key). Bytes travel as base64 text and SANs
 * as JSON arrays, which both engines (node-postgres and PGlite) pass alike.
 */
export const ISSUED_WRITES: WriteKind<IssuedRecord, 'issued' | 'collision' | 'notPending'> = {
  name: 'issued',
  rank: 3,
  params: 17,
  max: 128,
  ctes: ($) => `ci_input AS (
       SELECT * FROM unnest(${$(1)}::bigint[], ${$(2)}::text[], ${$(3)}::text[], ${$(4)}::integer[], ${$(5)}::text[], ${$(6)}::jsonb[], ${$(7)}::text[], ${$(8)}::text[], ${$(9)}::timestamptz[],
                            ${$(10)}::timestamptz[], ${$(11)}::text[], ${$(12)}::timestamptz[], ${$(13)}::timestamptz[], ${$(14)}::jsonb[], ${$(15)}::boolean[], ${$(16)}::text[], ${$(17)}::text[])
         AS t(request_id, csr_b64, serial, ca_id, subject, sans, template, requester, not_before, not_after, der_b64, issued_at, audit_at, audit_event, needs_approval, approval_digest, sid)
     ), ci_req AS (
       SELECT requests.id FROM requests JOIN ci_input ON requests.id = ci_input.request_id
       WHERE status = 'pending' AND csr_der = decode(ci_input.csr_b64, 'base64') AND requests.template = ci_input.template AND requests.requester = ci_input.requester
         AND (requests.issuance_order->>'sid') IS NOT DISTINCT FROM ci_input.sid
         AND (NOT (ci_input.needs_approval OR coalesce(requests.issuance_order->>'pendReason', '') = 'approval')
              OR EXISTS (SELECT 1 FROM request_approvals a WHERE a.request_id = requests.id AND a.order_digest = ci_input.approval_digest))
       ORDER BY requests.id FOR UPDATE OF requests
     ), ci_cert AS (
       INSERT INTO certificates (serial, ca_id, request_id, subject, sans, template, requester, not_before, not_after, der, issued_at)
       SELECT ci_input.serial, ci_input.ca_id, ci_req.id, ci_input.subject, ARRAY(SELECT jsonb_array_elements_text(ci_input.sans)), ci_input.template, ci_input.requester,
              ci_input.not_before, ci_input.not_after, decode(ci_input.der_b64, 'base64'), ci_input.issued_at
       FROM ci_input JOIN ci_req ON ci_req.id = ci_input.request_id
       ON CONFLICT (serial) DO NOTHING RETURNING certificates.serial, certificates.request_id
     ), ci_marked AS (
       UPDATE requests SET status = 'issued', serial = ci_cert.serial, disposition = 3, disposition_message = 'Issued', error_code = NULL, resolved_at = ci_input.issued_at
       FROM ci_cert JOIN ci_input ON ci_input.request_id = ci_cert.request_id WHERE requests.id = ci_cert.request_id RETURNING requests.id
     ), ci_queued AS (
       INSERT INTO audit_queue (at, event)
       SELECT ci_input.audit_at, jsonb_set(ci_input.audit_event, '{serial}', to_jsonb(ci_input.serial)) FROM ci_marked JOIN ci_input ON ci_input.request_id = ci_marked.id WHERE ci_input.audit_event IS NOT NULL
     )`,
  select: `SELECT 'issued'::text AS kind, NULL::integer AS ord, ci_input.request_id::text AS a,
       CASE WHEN ci_marked.id IS NOT NULL THEN 'issued' WHEN ci_req.id IS NOT NULL THEN 'collision' ELSE 'notPending' END AS b
     FROM ci_input LEFT JOIN ci_req ON ci_req.id = ci_input.request_id LEFT JOIN ci_marked ON ci_marked.id = ci_input.request_id`,
  values(items) {
    const col = <T>(f: (i: IssuedRecord) => T): T[] => items.map(f);
    const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
    return [
      col((i) => i.certificate.requestId),
      col((i) => b64(i.csrDer)),
      col((i) => i.certificate.serial),
      col((i) => i.certificate.caId),
      col((i) => i.certificate.subject),
      col((i) => JSON.stringify(i.certificate.sans)),
      col((i) => i.certificate.template),
      col((i) => i.certificate.requester),
      col((i) => i.certificate.notBefore),
      col((i) => i.certificate.notAfter),
      col((i) => b64(i.certificate.der)),
      col((i) => i.certificate.issuedAt),
      col((i) => i.audit?.at ?? null),
      col((i) => i.audit?.event ?? null),
      col((i) => i.approval.needed),
      col((i) => i.approval.digest),
      col((i) => i.sid ?? null),
    ];
  },
  outcomes(rows, items) {
    const byId = new Map(rows.map((x) => [x.a, x.b]));
    return items.map((i) => {
      const outcome = byId.get(String(BigInt(i.certificate.requestId)));
      if (outcome !== 'issued' && outcome !== 'collision' && outcome !== 'notPending') throw new Error(`no outcome for request ${i.certificate.requestId}`);
      return outcome;
    });
  },
  key: (i) => i.certificate.requestId,
};

export interface IssuedRecord {
  certificate: NewCertificate & { issuedAt: Date; requestId: string };
  csrDer: Uint8Array;
  /**
   * Whether the order needs a recorded approval (its template pends every request), and the digest
   * one must carry (null when the template does not pend: a request recorded as waiting for approval
   * then takes the careful path, which computes it).
   */
  approval: { needed: boolean; digest: string | null };
  audit?: { at: Date; event: string };
  /** The order's SID: signed only when it is the one recorded with the request (requests.issuance_order). */
  sid?: string;
}

/** The issuance fast path for one order, combined with the process's other writes: its outcome. */
export function recordIssuedIfPending(db: Db, item: IssuedRecord): Promise<'issued' | 'collision' | 'notPending'> {
  return combinedWrites(db).submit(ISSUED_WRITES, item);
}

const FIND_BY_SERIAL = statement(`SELECT ${COLS} FROM certificates WHERE serial = $1`);
const FIND_BY_REQUEST = statement(`SELECT ${COLS} FROM certificates WHERE request_id = $1`);

/** Inserts; returns false when the serial already exists (the caller draws a new one). */
export async function insertCertificate(q: Queryable, c: NewCertificate & { issuedAt: Date }): Promise<boolean> {
  const r = await q.query(
    `INSERT INTO certificates (serial, ca_id, request_id, subject, sans, template, requester, not_before, not_after, der, issued_at)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (serial) DO NOTHING`,
    [c.serial, c.caId, c.requestId, c.subject, c.sans, c.template, c.requester, c.notBefore, c.notAfter, Buffer.from(c.der), c.issuedAt],
  );
  return r.rowCount === 1;
}

export async function findBySerial(q: Queryable, serial: string): Promise<CertificateRecord | null> {
  const s = serial.toLowerCase().replace(/[^0-9a-f]/g, '');
  const r = await q.query<DbRow>(FIND_BY_SERIAL, [s]);
  return r.rows[0] ? toRecord(r.rows[0]) : null;
}

/** Who a certificate was issued to, as recorded with its request (null fields: no request, or recorded before migration 011). */
export interface CertificateOwner {
  name: string | null;
  kind: string | null;
  key: string | null;
  authMethod: string | null;
}

const FIND_WITH_OWNER = statement(`SELECT ${COLS}, o.owner_name, o.owner_kind, o.owner_key, o.owner_method FROM certificates
  LEFT JOIN LATERAL (SELECT r.requester AS owner_name, r.requester_kind AS owner_kind, r.requester_key AS owner_key, r.auth_method AS owner_method
                     FROM requests r WHERE r.id = certificates.request_id) o ON true
  WHERE certificates.serial = $1`);

/** A certificate with the principal it was issued to (authentication and renewal ownership: src/auth/certificate-owner.ts). */
export async function findWithOwner(q: Queryable, serial: string): Promise<(CertificateRecord & { owner: CertificateOwner }) | null> {
  const s = serial.toLowerCase().replace(/[^0-9a-f]/g, '');
  const r = await q.query<DbRow & { owner_name: string | null; owner_kind: string | null; owner_key: string | null; owner_method: string | null }>(FIND_WITH_OWNER, [s]);
  const x = r.rows[0];
  return x ? { ...toRecord(x), owner: { name: x.owner_name, kind: x.owner_kind, key: x.owner_key, authMethod: x.owner_method } } : null;
}

export async function findByRequestId(q: Queryable, requestId: string): Promise<CertificateRecord | null> {
  const r = await q.query<DbRow>(FIND_BY_REQUEST, [requestId]);
  return r.rows[0] ? toRecord(r.rows[0]) : null;
}

export interface CertificateFilter {
  requester?: string;
  template?: string;
  /** Case-insensitive substring of the subject or any SAN (or an exact serial). */
  text?: string;
  /** Case-insensitive substring of the subject only. */
  subjectLike?: string;
  expiringBefore?: Date;
  /** notAfter at or after this. */
  expiringAfter?: Date;
  revoked?: boolean;
  /** valid: unrevoked and not expired at `asOf`; expired: notAfter before `asOf`. */
  status?: 'valid' | 'revoked' | 'expired';
  asOf?: Date;
  limit?: number;
  offset?: number;
}

/** Certificates matching every given filter, newest first. */
export async function listCertificates(q: Queryable, f: CertificateFilter = {}): Promise<CertificateRecord[]> {
  const where: string[] = [];
  const p: unknown[] = [];
  if (f.requester) where.push(`requester = $${p.push(f.requester)}`);
  if (f.template) where.push(`template = $${p.push(f.template)}`);
  if (f.text) {
    const n = p.push(`%${f.text.replace(/[\\%_]/g, (m) => '\\' + m)}%`);
    where.push(`(subject ILIKE $${n} OR EXISTS (SELECT 1 FROM unnest(sans) s WHERE s ILIKE $${n}) OR serial = lower($${p.push(f.text)}))`);
  }
  if (f.subjectLike) where.push(`subject ILIKE $${p.push(`%${f.subjectLike.replace(/[\\%_]/g, (m) => '\\' + m)}%`)}`);
  if (f.expiringBefore) where.push(`not_after < $${p.push(f.expiringBefore)}`);
  if (f.expiringAfter) where.push(`not_after >= $${p.push(f.expiringAfter)}`);
  if (f.revoked !== undefined) where.push(f.revoked ? 'revoked_at IS NOT NULL' : 'revoked_at IS NULL');
  if (f.status === 'revoked') where.push('revoked_at IS NOT NULL');
  if (f.status === 'valid') where.push(`revoked_at IS NULL AND not_after > $${p.push(f.asOf ?? new Date())}`);
  if (f.status === 'expired') where.push(`not_after <= $${p.push(f.asOf ?? new Date())}`);
  const limit = Math.min(Math.max(Math.trunc(Number(f.limit ?? 100)) || 100, 1), 1000);
  const offset = Math.max(Math.trunc(Number(f.offset ?? 0)) || 0, 0);
  const r = await q.query<DbRow>(
    `SELECT ${COLS} FROM certificates ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY issued_at DESC, serial LIMIT $${p.push(limit)} OFFSET $${p.push(offset)}`,
    p,
  );
  return r.rows.map(toRecord);
}

/**
 * Sets or clears a revocation. `onlyIf` makes it conditional (so concurrent changes cannot both
 * win); returns whether a row changed.
 */
export async function setRevocation(q: Queryable, serial: string, at: Date | null, reason: number | null, opts: { onlyIf?: 'notRevoked' | 'onHold' } = {}): Promise<boolean> {
  const cond = opts.onlyIf === 'notRevoked' ? ' AND revoked_at IS NULL' : opts.onlyIf === 'onHold' ? ' AND revoked_at IS NOT NULL AND revocation_reason = 6' : '';
  const r = await q.query(`UPDATE certificates SET revoked_at = $2, revocation_reason = $3 WHERE serial = $1${cond}`, [serial, at, reason]);
  return r.rowCount === 1;
}

/** How many certificates are revoked (of one CA, or of all). */
export async function countRevoked(q: Queryable, caId?: number): Promise<number> {
  const r = await q.query<{ n: string }>(`SELECT count(*)::text AS n FROM certificates WHERE revoked_at IS NOT NULL${caId === undefined ? '' : ' AND ca_id = $1'}`, caId === undefined ? [] : [caId]);
  return Number(r.rows[0]?.n ?? 0);
}

/**
 * What a CRL of this CA lists as at `now`: every revoked certificate that has not been expired for
 * more than a day (RFC 5280 lets a CRL drop entries once the certificate expired).
 */
/** Revoked, unexpired (a day's grace) certificates issued by the CA rows `caIds` (the generations sharing one key). */
export async function listRevoked(q: Queryable, caIds: number | number[], now: Date): Promise<{ serial: string; revokedAt: Date; reason: number }[]> {
  const r = await q.query<{ serial: string; revoked_at: Date | string; revocation_reason: number | null }>(
    `SELECT serial, revoked_at, revocation_reason FROM certificates WHERE ca_id = ANY($1::int[]) AND revoked_at IS NOT NULL
       AND not_after > $2::timestamptz - interval '1 day' ORDER BY serial`,
    [Array.isArray(caIds) ? caIds : [caIds], now],
  );
  return r.rows.map((x) => ({ serial: x.serial, revokedAt: new Date(x.revoked_at), reason: x.revocation_reason ?? 0 }));
}

/** Alias named as the CA brief has it. */
export const list = listCertificates;
