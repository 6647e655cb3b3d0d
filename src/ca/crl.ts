import type { Clock } from '../clock.js';
import { OpencesError } from '../errors.js';
import type { Db, Queryable } from '../store/db.js';
import { listRevoked } from '../store/certificate-repo.js';
import { insertCrl, latestCrl, nextCrlNumber } from '../store/crl-repo.js';
import { bitString, child, explicit, implicitCons, implicitPrim, integer, integerFromBytes, readTlv, seq, time, tlv } from './der.js';
import { EXT, authorityKeyIdentifier, extension } from './extensions.js';
import { REVOCATION_REASON_CODES } from './types.js';
import type { CaSigner } from './types.js';

export interface CrlBuilderOptions {
  db: Db;
  clock: Clock;
  signer: CaSigner;
  /** The CA row the CRLs are numbered and stored under. */
  caId: number;
  /** The CA rows whose revoked certificates the CRL lists (default [caId]): every generation signed with this key. */
  coveredCaIds?: number[];
  issuerName: Uint8Array;
  issuerKeyId: Uint8Array;
  /** Full CRL lifetime (nextUpdate − thisUpdate). */
  validityHours: number;
  /** Delta CRL lifetime; default min(24, validityHours). */
  deltaValidityHours?: number;
  /**
   * Where this CA's delta CRLs are published. When set, every full CRL carries a Freshest CRL
   * extension (RFC 5280 §5.2.6) naming it, so relying parties know to fetch the delta.
   */
  deltaUrl?: string;
}

export type CrlKind = 'full' | 'delta';

export interface Entry {
  serial: string;
  revokedAt: Date;
  reason: number;
}

const HOLD = REVOCATION_REASON_CODES.certificateHold;
const FRESHEST_CRL = '2.5.29.46';
const REMOVE = REVOCATION_REASON_CODES.removeFromCRL;

/**
 * CRL v2 (RFC 5280 §5) with CRLNumber and AKI, each entry with its reasonCode. Full and delta CRLs
 * share one CRLNumber sequence per CA. A delta CRL lists what changed since the newest full CRL
 * (its base), computed against that CRL's own entries: new revocations, changed reasons, and
 * removeFromCRL for holds that were released.
 */
export class CrlBuilder {
  constructor(private readonly o: CrlBuilderOptions) {}

  async publish(opts: { delta?: boolean } = {}): Promise<Uint8Array> {
    return (await this.publishLocked(opts.delta === true, () => true))!;
  }

  /**
   * Publishes a CRL of `kind` unless one was published less than `periodMs` ago — decided under
   * the CRL lock, so several nodes running the schedule on one database publish once. A delta is
   * also due when a newer full CRL replaced its base. Returns null when nothing was due.
   */
  async publishIfDue(kind: CrlKind, periodMs: number): Promise<Uint8Array | null> {
    return this.publishLocked(kind === 'delta', async (tx, now) => {
      const full = await latestCrl(tx, this.o.caId, false);
      if (kind === 'full') return !full || now.getTime() - full.thisUpdate.getTime() >= periodMs;
      if (!full) return false;
      const delta = await latestCrl(tx, this.o.caId, true);
      return !delta || delta.number < full.number || now.getTime() - delta.thisUpdate.getTime() >= periodMs;
    });
  }

  private async publishLocked(delta: boolean, due: (tx: Queryable, now: Date) => boolean | Promise<boolean>): Promise<Uint8Array | null> {
    return this.o.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [0x63726c00 + this.o.caId]); // "crl" + ca: one numberer at a time
      const now = this.o.clock.now();
      if (!(await due(tx, now))) return null;
      const number = await nextCrlNumber(tx, this.o.caId);
      const current = await listRevoked(tx, this.o.coveredCaIds ?? [this.o.caId], now);
      let entries: Entry[] = current;
      let baseNumber: number | undefined;
      if (delta) {
        const base = await latestCrl(tx, this.o.caId, false);
        if (!base) throw new OpencesError('conflict', 'publish a full CRL before a delta CRL');
        baseNumber = base.number;
        entries = deltaEntries(crlEntries(base.der), current, now);
      }
      const hours = delta ? (this.o.deltaValidityHours ?? Math.min(24, this.o.validityHours)) : this.o.validityHours;
      const nextUpdate = new Date(now.getTime() + hours * 3600_000);
      const der = await this.sign({ number, baseNumber, thisUpdate: now, nextUpdate, entries });
      await insertCrl(tx, { caId: this.o.caId, number, delta, thisUpdate: now, nextUpdate, der });
      return der;
    });
  }

  private async sign(c: { number: number; baseNumber?: number; thisUpdate: Date; nextUpdate: Date; entries: Entry[] }): Promise<Uint8Array> {
    return signCrl(this.o.signer, this.o.issuerName, this.o.issuerKeyId, { ...c, ...(this.o.deltaUrl ? { deltaUrl: this.o.deltaUrl } : {}) });
  }
}

/** A CRL (v2) signed by `signer`: CRL number, AKI, and a delta indicator or Freshest CRL pointer. */
export async function signCrl(
  signer: CaSigner,
  issuerName: Uint8Array,
  issuerKeyId: Uint8Array,
  c: { number: number; baseNumber?: number; thisUpdate: Date; nextUpdate: Date; entries: Entry[]; deltaUrl?: string },
): Promise<Uint8Array> {
  const revoked = c.entries.map((r) =>
    seq(
      integerFromBytes(Buffer.from(r.serial.length % 2 ? '0' + r.serial : r.serial, 'hex')),
      time(r.revokedAt),
      // RFC 5280 §5.3.1: reasonCode unspecified SHOULD be absent.
      ...(r.reason === 0 ? [] : [seq(extension(EXT.crlReason, false, tlv(0x0a, Buffer.from([r.reason]))))]),
    ),
  );
  const exts = [authorityKeyIdentifier(issuerKeyId), extension(EXT.crlNumber, false, integer(c.number))];
  if (c.baseNumber !== undefined) exts.push(extension(EXT.deltaCrlIndicator, true, integer(c.baseNumber)));
  // Freshest CRL (2.5.29.46, CRLDistributionPoints syntax) in full CRLs only: §5.2.6 forbids it in deltas.
  else if (c.deltaUrl) exts.push(extension(FRESHEST_CRL, false, seq(seq(implicitCons(0, [implicitCons(0, [implicitPrim(6, Buffer.from(c.deltaUrl, 'ascii'))])])))));
  const tbs = seq(
    integer(1),
    signer.signatureAlgorithm,
    issuerName,
    time(c.thisUpdate),
    time(c.nextUpdate),
    ...(revoked.length ? [seq(...revoked)] : []),
    explicit(0, seq(...exts)),
  );
  const sig = await signer.sign(tbs);
  return new Uint8Array(seq(tbs, signer.signatureAlgorithm, bitString(sig)));
}

/** Changes since the base: new or changed revocations, and released holds as removeFromCRL. */
export function deltaEntries(base: Map<string, number>, current: Entry[], now: Date): Entry[] {
  const out: Entry[] = [];
  const still = new Set<string>();
  for (const e of current) {
    still.add(e.serial);
    if (base.get(e.serial) !== e.reason) out.push(e);
  }
  for (const [serial, reason] of base) {
    if (!still.has(serial) && reason === HOLD) out.push({ serial, revokedAt: now, reason: REMOVE });
  }
  return out.sort((a, b) => (a.serial < b.serial ? -1 : a.serial > b.serial ? 1 : 0));
}

/** serial (lower-case hex, as stored) → reason code, read from a CRL we signed. */
export function crlEntries(crlDer: Uint8Array): Map<string, number> {
  const out = new Map<string, number>();
  const tbs = child(crlDer, 0);
  // version, signature, issuer, thisUpdate, nextUpdate, then revokedCertificates if present
  const fifth = (() => {
    try {
      return child(tbs, 5);
    } catch {
      return null;
    }
  })();
  if (!fifth || readTlv(fifth).tag !== 0x30) return out;
  for (let i = 0; ; i++) {
    let entry: Uint8Array;
    try {
      entry = child(fifth, i);
    } catch {
      break;
    }
    const serialTlv = child(entry, 0);
    const h = readTlv(serialTlv);
    const serial = Buffer.from(serialTlv.subarray(h.header, h.header + h.length)).toString('hex').replace(/^(00)+(?=.)/, '');
    let reason = 0;
    try {
      const exts = child(entry, 2);
      for (let j = 0; ; j++) {
        let ext: Uint8Array;
        try {
          ext = child(exts, j);
        } catch {
          break;
        }
        if (Buffer.from(child(ext, 0)).equals(Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x15]))) {
          const value = child(ext, 1); // OCTET STRING wrapping ENUMERATED
          reason = value[value.length - 1]!;
        }
      }
    } catch {
      // no entry extensions: unspecified
    }
    out.set(serial, reason);
  }
  return out;
}
