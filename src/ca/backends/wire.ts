import { z } from 'zod';
import { OpencesError, type ErrorKind } from '../../errors.js';
import type { CaInfo, IssuanceOrder, IssuedCertificate, RevocationReason } from '../types.js';
import { REVOCATION_REASON_CODES } from '../types.js';

/**
 * The CA signing API's JSON (src/http/ca-api.ts serves it, src/ca/backends/remote.ts calls it):
 * issuance orders and their certificates, bytes as base64, times as ISO 8601. Both sides
 * validate with these schemas; nothing else crosses between an enrollment node and the CA.
 */
export const CA_API_PREFIX = '/ca/v1';

const b64Text = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
const b64 = b64Text.transform((s) => new Uint8Array(Buffer.from(s, 'base64')));
const isoDate = z.string().datetime({ offset: true }).transform((s) => new Date(s));
const sanType = z.enum(['dns', 'ip', 'email', 'uri', 'upn']);
const keyUsageName = z.enum(['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign']);
const oid = z.string().regex(/^\d+(\.\d+)+$/, 'a dotted OID');

export const orderSchema = z
  .object({
    orderId: z.string().regex(/^\d{1,18}$/, 'a request id'),
    template: z.string().min(1).max(256),
    templateInfo: z.object({ oid, majorRevision: z.number().int().min(0), minorRevision: z.number().int().min(0) }).strict().optional(),
    csr: b64,
    subject: z.array(z.object({ type: z.string().min(1).max(64), value: z.string().max(1024) }).strict()).max(32),
    sans: z.array(z.object({ type: sanType, value: z.string().min(1).max(1024) }).strict()).max(256),
    sanCritical: z.boolean().optional(),
    keyUsage: z.array(keyUsageName).max(7),
    keyUsageCritical: z.boolean(),
    ekus: z.array(oid).max(64),
    issuancePolicies: z.array(oid).max(64),
    notBefore: isoDate,
    notAfter: isoDate,
    requester: z.string().max(1024),
    /** The directory account's SID; the CA signs it only when it is the one recorded with the request. */
    sid: z.string().regex(/^S-1-\d{1,15}(?:-\d{1,10}){0,15}$/, 'a SID such as S-1-5-21-1-2-3-1104').optional(),
    /**
     * The enrollment node asks the CA node to park the issuance audit event in the statement that
     * records the certificate (one write instead of two). The CA node builds the event from the
     * order itself; the enrollment node adds only who approved and how the requester signed in.
     */
    issuanceAudit: z.object({ actor: z.string().max(1024).optional(), method: z.string().max(64).optional() }).strict().optional(),
    /** CertEnroll's Full PKCS#7 whose outer signature proves possession (feature `possessionSignedData`). */
    possessionSignedData: b64.optional(),
    /** Also sign the CMC full response for the certificate and answer it with it (feature `fullResponse`). */
    fullResponse: z.literal(true).optional(),
  })
  .strict();

export type OrderJson = z.input<typeof orderSchema>;
export type IssuanceAuditJson = NonNullable<OrderJson['issuanceAudit']>;

export function encodeOrder(o: IssuanceOrder, issuanceAudit?: IssuanceAuditJson, fullResponse?: boolean): OrderJson {
  return {
    orderId: o.orderId,
    template: o.template,
    ...(o.templateInfo ? { templateInfo: o.templateInfo } : {}),
    csr: Buffer.from(o.csrDer).toString('base64'),
    ...(o.possessionSignedData ? { possessionSignedData: Buffer.from(o.possessionSignedData).toString('base64') } : {}),
    subject: o.subject,
    sans: o.sans,
    ...(o.sanCritical !== undefined ? { sanCritical: o.sanCritical } : {}),
    keyUsage: o.keyUsage,
    keyUsageCritical: o.keyUsageCritical,
    ekus: o.ekus,
    issuancePolicies: o.issuancePolicies,
    notBefore: o.notBefore.toISOString(),
    notAfter: o.notAfter.toISOString(),
    requester: o.requester,
    ...(o.sid ? { sid: o.sid } : {}),
    ...(issuanceAudit ? { issuanceAudit } : {}),
    ...(fullResponse ? { fullResponse: true as const } : {}),
  };
}

export function decodeOrder(body: unknown): IssuanceOrder & { issuanceAudit?: IssuanceAuditJson; fullResponse?: true } {
  const o = parse(orderSchema, body, 'order');
  const { csr, sid, ...rest } = o;
  return { ...rest, csrDer: csr, templateInfo: o.templateInfo, ...(sid !== undefined ? { sid } : {}) };
}

const issuedSchema = z
  .object({
    serial: z.string().regex(/^[0-9a-f]+$/),
    certificate: b64,
    // Left out of a batch answer whose orders asked for the chain once (`chainOnce`): the batch's `chain` then holds it.
    chain: z.array(b64Text).optional(),
    notBefore: isoDate,
    notAfter: isoDate,
    replayed: z.boolean(),
    audited: z.boolean().optional(),
    /** The CA-signed CMC full response, when the order asked for it. */
    fullResponse: b64.optional(),
  })
  .strict();

/** Base64 of certificates encoded before: the CA's chain, which every answer carries, is encoded once. */
const base64Of = new WeakMap<Uint8Array, string>();
function chainBase64(der: Uint8Array): string {
  let text = base64Of.get(der);
  if (text === undefined) {
    text = Buffer.from(der).toString('base64');
    base64Of.set(der, text);
  }
  return text;
}

export const encodeChain = (chain: readonly Uint8Array[]): string[] => chain.map(chainBase64);

/** Whether two chains hold the same certificates (the same objects, as a local CA returns them, or equal bytes). */
export const sameChain = (a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean => a.length === b.length && a.every((d, i) => d === b[i] || Buffer.compare(d, b[i]!) === 0);

/** `withoutChain`: the answer's batch carries the chain once (`chainOnce`), and it is this certificate's. */
export function encodeIssued(c: IssuedCertificate, o: { withoutChain?: boolean } = {}): z.input<typeof issuedSchema> {
  return {
    serial: c.serial,
    certificate: Buffer.from(c.der).toString('base64'),
    ...(o.withoutChain ? {} : { chain: encodeChain(c.chain) }),
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    replayed: c.replayed,
    ...(c.audited ? { audited: true } : {}),
    ...(c.fullResponse ? { fullResponse: Buffer.from(c.fullResponse).toString('base64') } : {}),
  };
}

/**
 * Certificates an enrollment node already holds (the CA's chain, from the shared database), by
 * their base64. An answer that repeats the chain (per certificate, from a CA node without
 * `chainOnce`, or once per batch) is not decoded afresh: that cost the enrollment node ~40 µs per
 * certificate under load, in allocations for the GC to track. A chain this does not know is decoded.
 */
export class KnownCertificates {
  private readonly byBase64: ReadonlyMap<string, Uint8Array>;
  constructor(ders: readonly Uint8Array[]) {
    this.byBase64 = new Map(ders.map((d) => [Buffer.from(d).toString('base64'), d]));
  }
  decode(text: string): Uint8Array {
    return this.byBase64.get(text) ?? new Uint8Array(Buffer.from(text, 'base64'));
  }
}

/** `batchChain`: the chain a batch answer carries once, for certificates that do not carry their own. */
export function decodeIssued(body: unknown, known?: KnownCertificates, batchChain?: readonly string[]): IssuedCertificate {
  const c = parse(issuedSchema, body, 'issued certificate');
  const texts = c.chain ?? batchChain;
  if (!texts) throw new OpencesError('internal', 'the CA answered a certificate without its chain');
  const chain = texts.map((t) => (known ? known.decode(t) : new Uint8Array(Buffer.from(t, 'base64'))));
  return { serial: c.serial, der: c.certificate, chain, notBefore: c.notBefore, notAfter: c.notAfter, replayed: c.replayed, audited: c.audited === true, ...(c.fullResponse ? { fullResponse: c.fullResponse } : {}) };
}

/**
 * Orders travel in batches (POST /ca/v1/orders/batch): under load one HTTPS exchange, one
 * authorisation and one JSON parse serve many orders. Each order is decoded and answered on its
 * own, so one bad order refuses only itself.
 */
export const MAX_BATCH = 64;
export const batchSchema = z
  .object({
    orders: z.array(z.unknown()).min(1).max(MAX_BATCH),
    /**
     * The answer carries the CA's chain once, as its `chain`, instead of once per certificate (a
     * CA node lists `chainOnce` in its features). Every order's answer repeated the same ~2.6 KB,
     * which both nodes encoded, encrypted and parsed again: more than the rest of the answer.
     */
    chainOnce: z.literal(true).optional(),
  })
  .strict();
const batchResultsSchema = z
  .object({
    results: z.array(z.union([z.object({ issued: z.unknown() }).strict(), z.object({ problem: z.unknown() }).strict()])),
    chain: z.array(b64Text).optional(),
  })
  .strict();

/** The problem body for an error (RFC 9457 with our error kind); internal errors say no more than that. */
export function problemBody(e: OpencesError, status: number): Record<string, unknown> {
  const detail = e.kind === 'internal' ? 'internal error' : e.message;
  const safe = Object.fromEntries(Object.entries(e.details).filter(([, v]) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'));
  return { ...safe, title: e.kind, status, detail, kind: e.kind };
}

/** The CA's typed refusal as the error it was, as if the engine were local. */
export function errorFromProblem(body: unknown): OpencesError | null {
  const p = problemSchema.safeParse(body);
  if (!p.success) return null;
  const { kind, detail, title: _t, status: _s, ...details } = p.data;
  return new OpencesError(kind, detail, details);
}

/** One answer per order, in order: the certificate or the typed refusal. */
export function decodeBatchResults(body: unknown, count: number, known?: KnownCertificates): (IssuedCertificate | OpencesError)[] {
  const r = parse(batchResultsSchema, body, 'order batch results');
  if (r.results.length !== count) throw new OpencesError('internal', `the CA answered ${r.results.length} results for ${count} orders`);
  return r.results.map((x) => ('issued' in x ? decodeIssued(x.issued, known, r.chain) : (errorFromProblem(x.problem) ?? new OpencesError('internal', 'the CA answered a malformed problem'))));
}

/**
 * GET /ca/v1/features: what this CA node understands beyond the first version of the API. Not
 * strict, so a newer CA node may list more; a CA node without it (404) understands none of them.
 */
export const FEATURES = ['issuanceAudit', 'chainOnce', 'fullResponse', 'pkiResponses', 'possessionSignedData'] as const;

/**
 * POST /ca/v1/responses (feature `pkiResponses`): the CA-signed CMC full response for a recorded
 * request, built by the CA node from the request's state in the store (never from the caller's words).
 */
export const pkiResponseRequestSchema = z.object({ requestId: z.string().regex(/^\d{1,18}$/, 'a request id') }).strict();
export const pkiResponseSchema = z.object({ response: b64 }).strict();
export const featuresSchema = z.object({ features: z.array(z.string().max(64)).max(64) });

const infoSchema = z.object({ name: z.string(), slug: z.string(), chain: z.array(b64).min(2) }).strict();

export function encodeInfo(i: CaInfo): z.input<typeof infoSchema> {
  return { name: i.name, slug: i.slug, chain: i.chain.map((x) => Buffer.from(x).toString('base64')) };
}

export function decodeInfo(body: unknown): CaInfo {
  const i = parse(infoSchema, body, 'CA info');
  return { name: i.name, slug: i.slug, issuingCertificate: i.chain[0]!, rootCertificate: i.chain[i.chain.length - 1]!, chain: i.chain };
}

export const revokeSchema = z
  .object({ reason: z.enum(Object.keys(REVOCATION_REASON_CODES) as [RevocationReason, ...RevocationReason[]]), at: isoDate.optional() })
  .strict();

export const crlRequestSchema = z.object({ delta: z.boolean().default(false) }).strict();
export const crlSchema = z.object({ crl: b64 }).strict();

/** RFC 9457 problem with our error kind, so the enrollment node rethrows the CA's typed error. */
const KINDS = ['malformed', 'badCsr', 'badSignature', 'badPublicKey', 'unauthenticated', 'forbidden', 'templateNotFound', 'templateDenied', 'policyDenied', 'notFound', 'conflict', 'rateLimited', 'tooLarge', 'unsupported', 'unavailable', 'internal'] as const satisfies readonly ErrorKind[];
export const problemSchema = z.object({ title: z.string(), status: z.number().int(), detail: z.string(), kind: z.enum(KINDS) }).passthrough();

export function parse<S extends z.ZodTypeAny>(schema: S, body: unknown, what: string): z.output<S> {
  const r = schema.safeParse(body);
  if (!r.success) {
    const first = r.error.issues[0]!;
    const field = first.path.join('.') || '(body)';
    throw new OpencesError('malformed', `${what}: ${field}: ${first.message}`, { field });
  }
  return r.data as z.output<S>;
}
