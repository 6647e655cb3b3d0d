import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

/** As `openssl pkcs12 -export` (3.x) writes it, and src/client/pkcs12.ts for the CLI. */
const ITERATIONS = 2048;

const OID = {
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
} as const;

function parsed(der: Uint8Array): asn1js.AsnType {
  const a = asn1js.fromBER(der);
  if (a.offset === -1) throw new Error('cannot decode the certificate');
  return a.result;
}

/** ArrayBuffer copy of exactly these bytes (pkijs takes ArrayBuffers). */
function buf(b: Uint8Array): ArrayBuffer {
  return b.slice().buffer;
}

export interface Pkcs12Input {
  privateKey: CryptoKey;
  certificate: Uint8Array;
  /** Issuing CA first. */
  chain: Uint8Array[];
  password: string;
  friendlyName?: string;
}

/**
 * A PKCS#12 (RFC 7292) built in the page: the key in a PKCS8ShroudedKeyBag and the certificates in
 * an encrypted SafeContents, both PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), then an HMAC-SHA256 MAC
 * over it all. The key and its certificate share a localKeyId (SHA-1 of the certificate).
 */
export async function buildPkcs12(o: Pkcs12Input): Promise<Uint8Array> {
  if (!o.password) throw new Error('a password is required');
  const crypto = pkijs.getCrypto(true);
  const password = buf(new TextEncoder().encode(o.password));
  const sha1 = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-1', buf(o.certificate)));
  const localKeyId = new pkijs.Attribute({ type: OID.localKeyId, values: [new asn1js.OctetString({ valueHex: buf(sha1) })] });
  const names = o.friendlyName ? [new pkijs.Attribute({ type: OID.friendlyName, values: [new asn1js.BmpString({ value: o.friendlyName })] })] : [];
  const certBag = (der: Uint8Array, attrs: pkijs.Attribute[]): pkijs.SafeBag =>
    new pkijs.SafeBag({
      bagId: OID.certBag,
      bagValue: new pkijs.CertBag({ certId: OID.x509Certificate, certValue: new asn1js.OctetString({ valueHex: buf(der) }), parsedValue: new pkijs.Certificate({ schema: parsed(der) }) }),
      ...(attrs.length ? { bagAttributes: attrs } : {}),
    });
  const certs = new pkijs.SafeContents({ safeBags: [certBag(o.certificate, [...names, localKeyId]), ...o.chain.map((c) => certBag(c, []))] });

  const pkcs8 = new Uint8Array(await globalThis.crypto.subtle.exportKey('pkcs8', o.privateKey));
  const keyInfo = new pkijs.PrivateKeyInfo({ schema: parsed(pkcs8) });
  pkcs8.fill(0);
  // pkijs draws a random IV for each encryption; its type (AesCbcParams) asks for one it never reads.
  const aes = { name: 'AES-CBC', length: 256 } as pkijs.ContentEncryptionAlgorithm;
  const pbes2 = { password, contentEncryptionAlgorithm: aes, hmacHashAlgorithm: 'SHA-256', iterationCount: ITERATIONS };
  const shrouded = new pkijs.PKCS8ShroudedKeyBag({ parsedValue: keyInfo });
  await shrouded.makeInternalValues(pbes2, crypto);
  const keys = new pkijs.SafeContents({ safeBags: [new pkijs.SafeBag({ bagId: OID.pkcs8ShroudedKeyBag, bagValue: shrouded, bagAttributes: [...names, localKeyId] })] });

  const safe = new pkijs.AuthenticatedSafe({ parsedValue: { safeContents: [{ privacyMode: 1, value: certs }, { privacyMode: 0, value: keys }] } });
  await safe.makeInternalValues({ safeContents: [pbes2, {}] }, crypto);
  const pfx = new pkijs.PFX({ parsedValue: { integrityMode: 0, authenticatedSafe: safe } });
  await pfx.makeInternalValues({ password, iterations: ITERATIONS, pbkdf2HashAlgorithm: { name: 'SHA-256' }, hmacHashAlgorithm: 'SHA-256' }, crypto);
  return new Uint8Array(pfx.toSchema().toBER(false));
}
