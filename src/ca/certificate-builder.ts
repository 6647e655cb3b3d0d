import { bitString, child, explicit, integer, integerFromBytes, seq, time } from './der.js';
import type { CaSigner } from './types.js';

export interface TbsParts {
  serial: Uint8Array;
  issuerName: Uint8Array;
  subjectName: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
  extensions: Uint8Array[];
}

const V3 = explicit(0, integer(2));

/** Assembles and signs a v3 certificate from pre-encoded pieces. */
export async function buildCertificate(signer: CaSigner, p: TbsParts): Promise<Buffer> {
  const tbs = seq(
    V3,
    integerFromBytes(p.serial),
    signer.signatureAlgorithm,
    p.issuerName,
    seq(time(p.notBefore), time(p.notAfter)),
    p.subjectName,
    p.spki,
    explicit(3, seq(...p.extensions)),
  );
  const sig = await signer.sign(tbs);
  return seq(tbs, signer.signatureAlgorithm, bitString(sig));
}

/** Pieces of an existing certificate (the CA's own) needed to issue under it. */
export function certificateParts(der: Uint8Array): { subjectName: Uint8Array; spki: Uint8Array } {
  const tbs = child(der, 0);
  // tbs: [0] version, serial, signature, issuer, validity, subject, spki, …
  return { subjectName: child(tbs, 5), spki: child(tbs, 6) };
}
