import { statement, type Db, type Queryable } from './db.js';
import { combinedWrites, type WriteKind } from './combined-writes.js';

export type RequestStatus = 'pending' | 'issued' | 'denied' | 'failed';
export type RequestFormat = 'pkcs10' | 'cmc' | 'pkcs7';

/** MS-WCCE dispositions (what ICertRequest::Submit returns). */
export const DISPOSITION = {
  incomplete: 0,
  error: 1,
  denied: 2,
  issued: 3,
  issuedOutOfBand: 4,
  underSubmission: 5,
  revoked: 6,
} as const;

export interface RequestRow {
  id: string;
  status: RequestStatus;
  requester: string;
  /** The requester's canonical identity (src/auth/identity.ts); null on rows recorded before migration 011. */
  requesterKind: string | null;
  requesterKey: string | null;
  authMethod: string;
  clientAddress: string | null;
  template: string | null;
  requestFormat: RequestFormat;
  rawRequest: Uint8Array;
  csrDer: Uint8Array | null;
  csrSha256: string | null;
  issuanceOrder: unknown;
  disposition: number;
  dispositionMessage: string;
  errorCode: number | null;
  serial: string | null;
  renewalOf: string | null;
  attributes: Record<string, string>;
  submittedAt: Date;
  resolvedAt: Date | null;
  resolvedBy: string | null;
}

interface DbRow {
  id: string;
  status: RequestStatus;
  requester: string;
  requester_kind: string | null;
  requester_key: string | null;
  auth_method: string;
  client_address: string | null;
  template: string | null;
  request_format: RequestFormat;
  raw_request: Uint8Array;
  csr_der: Uint8Array | null;
  csr_sha256: string | null;
  issuance_order: unknown;
  disposition: number;
  disposition_message: string;
  error_code: string | number | null;
  serial: string | null;
  renewal_of: string | null;
  attributes: Record<string, string> | null;
  submitted_at: Date | string;
  resolved_at: Date | string | null;
  resolved_by: string | null;
}

const COLUMNS = `id::text AS id, status, requester, requester_kind, requester_key, auth_method, client_address, template, request_format, raw_request,
  csr_der, csr_sha256, issuance_order, disposition, disposition_message, error_code, serial, renewal_of, attributes,
  submitted_at, resolved_at, resolved_by`;

function toRow(r: DbRow): RequestRow {
  return {
    id: r.id,
    status: r.status,
    requester: r.requester,
    requesterKind: r.requester_kind,
    requesterKey: r.requester_key,
    authMethod: r.auth_method,
    clientAddress: r.client_address,
    template: r.template,
    requestFormat: r.request_format,
    rawRequest: r.raw_request,
    csrDer: r.csr_der,
    csrSha256: r.csr_sha256,
    issuanceOrder: r.issuance_order,
    disposition: r.disposition,
    dispositionMessage: r.disposition_message,
    errorCode: r.error_code === null ? null : Number(r.error_code),
    serial: r.serial,
    renewalOf: r.renewal_of,
    attributes: r.attributes ?? {},
    submittedAt: new Date(r.submitted_at),
    resolvedAt: r.resolved_at === null ? null : new Date(r.resolved_at),
    resolvedBy: r.resolved_by,
  };
}

export interface NewRequest {
  status: RequestStatus;
  requester: string;
  /** Canonical identity of the requester (src/auth/identity.ts). */
  requesterKind?: string;
  requesterKey?: string;
  authMethod: string;
  clientAddress?: string;
  template?: string;
  requestFormat: RequestFormat;
  rawRequest: Uint8Array;
  csrDer?: Uint8Array;
  csrSha256?: string;
  issuanceOrder?: unknown;
  disposition: number;
  dispositionMessage: string;
  errorCode?: number;
  renewalOf?: string;
  attributes?: Record<string, string>;
  submittedAt: Date;
  resolvedAt?: Date;
}

export async function insertRequest(q: Queryable, r: NewRequest): Promise<string> {
  const res = await q.query<{ id: string }>(
    `INSERT INTO requests (status, requester, auth_method, client_address, template, request_format, raw_request, csr_der,
       csr_sha256, issuance_order, disposition, disposition_message, error_code, renewal_of, attributes, submitted_at, resolved_at,
       requester_kind, requester_key)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19) RETURNING id::text AS id`,
    requestParams(r),
  );
  return res.rows[0]!.id;
}

function requestParams(r: NewRequest): unknown[] {
  return [
    r.status,
    r.requester,
    r.authMethod,
    r.clientAddress ?? null,
    r.template ?? null,
    r.requestFormat,
    Buffer.from(r.rawRequest),
    r.csrDer ? Buffer.from(r.csrDer) : null,
    r.csrSha256 ?? null,
    r.issuanceOrder === undefined ? null : JSON.stringify(r.issuanceOrder),
    r.disposition,
    r.dispositionMessage,
    r.errorCode ?? null,
    r.renewalOf ?? null,
    JSON.stringify(r.attributes ?? {}),
    r.submittedAt,
    r.resolvedAt ?? null,
    r.requesterKind ?? null,
    r.requesterKey ?? null,
  ];
}

/** An audit event ready for the queue table, written by the same statement as the row it records. */
export interface QueuedAudit {
  at: Date;
  /** The event as JSON; its requestId is filled in by the statement. */
  event: string;
}

/**
 * Records requests and parks their audit events, several in one statement (src/store/combined-writes.ts),
 * each atomic on its own: unless the same requester sent the same CSR since its retrySince and
 * that request is pending or issued — then nothing is written and the earlier request's id comes
 * back (an idempotent retry) — the row and its audit event (requestId filled in) are written. Ids
 * are drawn up front so each answer is matched to its input. Two items with the same requester and
 * CSR must not share a statement (the kind's key). Bytes travel as base64 text, which both engines
 * pass alike.
 */
/** Keys for requests without a CSR hash: each its own. */
let uniqueKey = 0;

export const REQUEST_WRITES: WriteKind<RequestOnce, { id: string; retryOf: boolean }> = {
  name: 'request',
  rank: 2,
  params: 23,
  max: 128,
  ctes: ($) => `rq_input AS (
       SELECT t.*, nextval('request_id_seq') AS new_id
       FROM unnest(${$(1)}::text[], ${$(2)}::text[], ${$(3)}::text[], ${$(4)}::text[], ${$(5)}::text[], ${$(6)}::text[], ${$(7)}::text[], ${$(8)}::text[], ${$(9)}::text[], ${$(10)}::jsonb[], ${$(11)}::integer[],
                   ${$(12)}::text[], ${$(13)}::bigint[], ${$(14)}::text[], ${$(15)}::jsonb[], ${$(16)}::timestamptz[], ${$(17)}::timestamptz[], ${$(18)}::timestamptz[], ${$(19)}::timestamptz[], ${$(20)}::jsonb[], ${$(21)}::integer[],
                   ${$(22)}::text[], ${$(23)}::text[])
         AS t(status, requester, auth_method, client_address, template, request_format, raw_b64, csr_b64, csr_sha256, issuance_order, disposition,
              disposition_message, error_code, renewal_of, attributes, submitted_at, resolved_at, retry_since, audit_at, audit_event, ord,
              requester_kind, requester_key)
     ), rq_earlier AS (
       SELECT rq_input.ord, (SELECT requests.id FROM requests WHERE requests.requester = rq_input.requester AND requests.csr_sha256 = rq_input.csr_sha256
                            AND requests.submitted_at >= rq_input.retry_since AND requests.status IN ('pending', 'issued')
                          ORDER BY requests.id DESC LIMIT 1) AS id
       FROM rq_input
     ), rq_inserted AS (
       INSERT INTO requests (id, status, requester, auth_method, client_address, template, request_format, raw_request, csr_der,
         csr_sha256, issuance_order, disposition, disposition_message, error_code, renewal_of, attributes, submitted_at, resolved_at,
         requester_kind, requester_key)
       SELECT rq_input.new_id, rq_input.status, rq_input.requester, rq_input.auth_method, rq_input.client_address, rq_input.template, rq_input.request_format,
         decode(rq_input.raw_b64, 'base64'), decode(rq_input.csr_b64, 'base64'), rq_input.csr_sha256, rq_input.issuance_order, rq_input.disposition,
         rq_input.disposition_message, rq_input.error_code, rq_input.renewal_of, rq_input.attributes, rq_input.submitted_at, rq_input.resolved_at,
         rq_input.requester_kind, rq_input.requester_key
       FROM rq_input JOIN rq_earlier ON rq_earlier.ord = rq_input.ord WHERE rq_earlier.id IS NULL
       RETURNING requests.id
     ), rq_queued AS (
       INSERT INTO audit_queue (at, event)
       SELECT rq_input.audit_at, jsonb_set(rq_input.audit_event, '{requestId}', to_jsonb(rq_inserted.id::text)) FROM rq_inserted JOIN rq_input ON rq_input.new_id = rq_inserted.id
     )`,
  select: `SELECT 'request'::text AS kind, rq_input.ord AS ord, rq_earlier.id::text AS a, rq_inserted.id::text AS b
     FROM rq_input JOIN rq_earlier ON rq_earlier.ord = rq_input.ord LEFT JOIN rq_inserted ON rq_inserted.id = rq_input.new_id`,
  values(items) {
    const b64 = (b: Uint8Array | undefined): string | null => (b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64') : null);
    const rows = items.map((i) => requestParams(i.request));
    const col = (k: number): unknown[] => rows.map((r) => r[k]);
    return [
      col(0), col(1), col(2), col(3), col(4), col(5),
      items.map((i) => b64(i.request.rawRequest)),
      items.map((i) => b64(i.request.csrDer)),
      col(8), col(9), col(10), col(11), col(12), col(13), col(14), col(15), col(16),
      items.map((i) => i.retrySince),
      items.map((i) => i.audit.at),
      items.map((i) => i.audit.event),
      items.map((_, k) => k),
      col(17), col(18),
    ];
  },
  outcomes(rows, items) {
    const byOrd = new Map(rows.map((r) => [Number(r.ord), r]));
    return items.map((_, k) => {
      const row = byOrd.get(k);
      if (!row || (row.a === null && row.b === null)) throw new Error(`no outcome for request ${k} of the statement`);
      return row.a !== null ? { id: row.a, retryOf: true } : { id: row.b!, retryOf: false };
    });
  },
  // Same requester and CSR never share a statement: the second must see the first as its retry.
  key: (i) => `${i.request.requester}\0${i.request.csrSha256 ?? `#${uniqueKey++}`}`,
};

export interface RequestOnce {
  request: NewRequest;
  retrySince: Date;
  audit: QueuedAudit;
}

/** Records requests (or finds the requests they retry): one answer each, in order (combined with the process's other writes). */
export function insertRequestOnce(db: Db, item: RequestOnce): Promise<{ id: string; retryOf: boolean }> {
  return combinedWrites(db).submit(REQUEST_WRITES, item);
}

const GET_REQUEST = statement(`SELECT ${COLUMNS} FROM requests WHERE id = $1`);
const GET_REQUEST_FOR_UPDATE = statement(`SELECT ${COLUMNS} FROM requests WHERE id = $1 FOR UPDATE`);

export async function getRequest(q: Queryable, id: string, opts: { forUpdate?: boolean } = {}): Promise<RequestRow | null> {
  if (!/^\d{1,18}$/.test(id)) return null;
  const r = await q.query<DbRow>(opts.forUpdate ? GET_REQUEST_FOR_UPDATE : GET_REQUEST, [id]);
  return r.rows[0] ? toRow(r.rows[0]) : null;
}

export async function resolveRequest(
  q: Queryable,
  id: string,
  r: { status: RequestStatus; disposition: number; message: string; errorCode?: number; resolvedBy?: string; at: Date },
): Promise<void> {
  await q.query(
    `UPDATE requests SET status = $2, disposition = $3, disposition_message = $4, error_code = $5, resolved_by = $6, resolved_at = $7
     WHERE id = $1`,
    [id, r.status, r.disposition, r.message, r.errorCode ?? null, r.resolvedBy ?? null, r.at],
  );
}

export interface RequestFilter {
  status?: RequestStatus;
  requester?: string;
  /** The requester's canonical identity (src/auth/identity.ts): every spelling of one person. */
  requesterKey?: string;
  template?: string;
  limit?: number;
  offset?: number;
}

export async function listRequests(q: Queryable, f: RequestFilter = {}): Promise<RequestRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.status) where.push(`status = $${params.push(f.status)}`);
  if (f.requester) where.push(`requester = $${params.push(f.requester)}`);
  if (f.requesterKey) where.push(`requester_key = $${params.push(f.requesterKey)}`);
  if (f.template) where.push(`template = $${params.push(f.template)}`);
  const limit = Math.min(Math.max(f.limit ?? 100, 1), 1000);
  const offset = Math.max(f.offset ?? 0, 0);
  const r = await q.query<DbRow>(
    `SELECT ${COLUMNS} FROM requests ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY requests.id DESC LIMIT ${limit} OFFSET ${offset}`,
    params,
  );
  return r.rows.map(toRow);
}
