import type { Clock } from '../clock.js';
import type { Db } from '../store/db.js';
import { listRevoked } from '../store/certificate-repo.js';
import { insertCrl, latestCrl, nextCrlNumber } from '../store/crl-repo.js';
import { bitString, explicit, integer, integerFromBytes, seq, time, tlv } from './der.js';
import { EXT, authorityKeyIdentifier, extension } from './extensions.js';
import type { CaSigner } from './types.js';

export interface CrlBuilderOptions {
  db: Db;
  clock: Clock;
  signer: CaSigner;
  caId: number;
  issuerName: Uint8Array;
  issuerKeyId: Uint8Array;
  validityHours: number;
}

/** CRL v2 (RFC 5280 §5) with CRLNumber, AKI, per-entry reasonCode; delta CRLs carry the base number. */
export class CrlBuilder {
  constructor(private readonly o: CrlBuilderOptions) {}

  async publish(opts: { delta?: boolean } = {}): Promise<Uint8Array> {
    const delta = opts.delta === true;
    return this.o.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [0x63726c00 + this.o.caId]); // "crl" + ca: one numberer at a time
      const now = this.o.clock.now();
      const number = await nextCrlNumber(tx, this.o.caId);
      const base = delta ? await latestCrl(tx, this.o.caId, false) : null;
      if (delta && !base) throw new Error('publish a full CRL before a delta CRL');
      const revoked = await listRevoked(tx, this.o.caId, delta ? base!.thisUpdate : undefined);
      const hours = delta ? Math.min(24, this.o.validityHours) : this.o.validityHours;
      const nextUpdate = new Date(now.getTime() + hours * 3600_000);
      const entries = revoked.map((r) =>
        seq(integerFromBytes(Buffer.from(r.serial.length % 2 ? '0' + r.serial : r.serial, 'hex')), time(r.revokedAt), seq(extension(EXT.crlReason, false, tlv(0x0a, Buffer.from([r.reason]))))),
      );
      const exts = [authorityKeyIdentifier(this.o.issuerKeyId), extension(EXT.crlNumber, false, integer(number))];
      if (delta) exts.push(extension(EXT.deltaCrlIndicator, true, integer(base!.number)));
      const tbs = seq(
        integer(1),
        this.o.signer.signatureAlgorithm,
        this.o.issuerName,
        time(now),
        time(nextUpdate),
        ...(entries.length ? [seq(...entries)] : []),
        explicit(0, seq(...exts)),
      );
      const sig = await this.o.signer.sign(tbs);
      const der = new Uint8Array(seq(tbs, this.o.signer.signatureAlgorithm, bitString(sig)));
      await insertCrl(tx, { caId: this.o.caId, number, delta, thisUpdate: now, nextUpdate, der });
      return der;
    });
  }
}
