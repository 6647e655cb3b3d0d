import { createHash } from 'node:crypto';
import type { AuditEvent, AuditRow } from './event.js';

/** prev_hash of the first event. */
export const GENESIS = '0'.repeat(64);

/**
 * Key names whose values never reach the log: password, passphrase, secret, token, and key-ish
 * names (`key`, `apiKey`, `privateKey`, `signing_key`) — matched on the lower-cased name without
 * separators, so `keyType` or `keyId` stay.
 */
export function isSecretKey(name: string): boolean {
  const k = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return /pass(word|phrase)|secret|token|privatekey|credential/.test(k) || k === 'key' || k === 'pass' || k === 'pwd' || k.endsWith('key');
}

// PostgreSQL refuses NUL in text and jsonb, and node-postgres turns lone surrogates into U+FFFD:
// either would make the stored row differ from what was hashed, so both become U+FFFD first.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
export function storable(s: string): string {
  return s.replace(UNSTORABLE, '\uFFFD');
}

function scrubValue(v: unknown): unknown {
  if (typeof v === 'string') return storable(v);
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(scrubValue);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (!isSecretKey(k)) out[storable(k)] = scrubValue(x);
    return out;
  }
  return v;
}

/**
 * Drops secret-named keys recursively and brings the value into the form it will have after a
 * round trip through jsonb (dates as ISO strings, no undefined, no functions), so that the hash
 * computed now matches the one `verify()` recomputes from the stored row.
 */
export function scrub(details: Record<string, unknown> | undefined): Record<string, unknown> {
  const clean = scrubValue(details ?? {});
  const json = JSON.stringify(clean);
  const back: unknown = json === undefined ? {} : JSON.parse(json);
  return back && typeof back === 'object' && !Array.isArray(back) ? (back as Record<string, unknown>) : {};
}

/** Canonical JSON: sorted keys, no whitespace, undefined members left out; the same bytes on every node. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/** The event as it is hashed and stored: secrets gone, strings storable. */
export function normaliseEvent(e: AuditEvent): AuditEvent {
  const s = (x: string | undefined): string | undefined => (x === undefined ? undefined : storable(x));
  return {
    type: storable(e.type),
    outcome: e.outcome,
    actor: s(e.actor),
    principal: s(e.principal),
    method: s(e.method),
    address: s(e.address),
    template: s(e.template),
    requestId: s(e.requestId),
    serial: s(e.serial),
    reason: s(e.reason),
    details: scrub(e.details),
  };
}

/**
 * SHA-256 (hex) over the canonical JSON of every field of the row, its explicit seq, its time
 * (ISO 8601 with milliseconds, UTC) and prev_hash. docs/audit.md spells the format out so that an
 * exported log can be checked by anyone.
 */
export function rowHash(r: Omit<AuditRow, 'hash'>): string {
  const body = canonical({
    seq: r.seq,
    at: r.at.toISOString(),
    type: r.type,
    outcome: r.outcome,
    actor: r.actor ?? null,
    principal: r.principal ?? null,
    method: r.method ?? null,
    address: r.address ?? null,
    template: r.template ?? null,
    requestId: r.requestId ?? null,
    serial: r.serial ?? null,
    reason: r.reason ?? null,
    details: r.details ?? {},
    prevHash: r.prevHash,
  });
  return createHash('sha256').update(body).digest('hex');
}
