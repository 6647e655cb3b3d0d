import { createHash, webcrypto, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { OpencesError } from '../errors.js';

/** What modern openssl (3.x) uses for `pkcs12 -export`: PBES2 with PBKDF2/HMAC-SHA256 and AES-256-CBC, a SHA-256 MAC, 2048 iterations. */
export const PKCS12_ITERATIONS = 2048;

const OID = {
  keyBag: '1.2.840.113549.1.12.10.1.1',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
} as const;

let engine: pkijs.ICryptoEngine | undefined;
function cryptoEngine(): pkijs.ICryptoEngine {
  engine ??= new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as pkijs.CryptoEngineParameters['crypto'] });
  return engine;
}

function schemaOf(der: Uint8Array, what: string): asn1js.AsnType {
  const a = asn1js.fromBER(der);
  if (a.offset === -1) throw new OpencesError('malformed', `cannot decode the ${what}`);
  return a.result;
}

export interface Pkcs12Input {
  /** The private key (stays on this machine: it goes into the file and nowhere else). */
  privateKey: KeyObject;
  /** The end-entity certificate (DER), which must belong to privateKey. */
  certificate: Uint8Array;
  /** CA certificates (DER), issuer first. */
  chain: Uint8Array[];
  /**
   * Protects key (PBES2), certificates (PBES2) and the whole file (HMAC-SHA256 MAC). `null` writes
   * an unprotected PKCS#12: key and certificates in the clear, no MAC (`--pfx-no-password`).
   */
  password: string | null;
  friendlyName?: string;
}

/**
 * A PKCS#12 (RFC 7292) as `openssl pkcs12 -export` writes it since OpenSSL 3.0: one AuthenticatedSafe
 * with the certificates in a password-encrypted SafeContents and the key in a PKCS8ShroudedKeyBag,
 * both PBES2 (PBKDF2 with HMAC-SHA256, AES-256-CBC), then a SHA-256 MAC over it all. Key and
 * end-entity certificate share a localKeyId (SHA-1 of the certificate) so tools pair them.
 */
export async function buildPkcs12(o: Pkcs12Input): Promise<Uint8Array> {
  const crypto = cryptoEngine();
  const password = o.password === null ? null : new TextEncoder().encode(o.password);
  if (password !== null && password.length === 0) throw new OpencesError('malformed', 'the PKCS#12 password is empty: give a password, or --pfx-no-password for an unprotected file');
  const localKeyId = new pkijs.Attribute({ type: OID.localKeyId, values: [new asn1js.OctetString({ valueHex: createHash('sha1').update(o.certificate).digest() })] });
  const names = o.friendlyName ? [new pkijs.Attribute({ type: OID.friendlyName, values: [new asn1js.BmpString({ value: o.friendlyName })] })] : [];

  const certBag = (der: Uint8Array, attrs: pkijs.Attribute[]): pkijs.SafeBag =>
    new pkijs.SafeBag({
      bagId: OID.certBag,
      bagValue: new pkijs.CertBag({ certId: OID.x509Certificate, certValue: new asn1js.OctetString({ valueHex: der }), parsedValue: new pkijs.Certificate({ schema: schemaOf(der, 'certificate') }) }),
      ...(attrs.length ? { bagAttributes: attrs } : {}),
    });
  const certs = new pkijs.SafeContents({ safeBags: [certBag(o.certificate, [...names, localKeyId]), ...o.chain.map((c) => certBag(c, []))] });

  const keyInfo = new pkijs.PrivateKeyInfo({ schema: schemaOf(o.privateKey.export({ type: 'pkcs8', format: 'der' }), 'private key') });
  let keyBag: pkijs.SafeBag;
  if (password === null) {
    keyBag = new pkijs.SafeBag({ bagId: OID.keyBag, bagValue: keyInfo, bagAttributes: [...names, localKeyId] });
  } else {
    const shrouded = new pkijs.PKCS8ShroudedKeyBag({ parsedValue: keyInfo });
    await shrouded.makeInternalValues({ password: password.slice().buffer, contentEncryptionAlgorithm: { name: 'AES-CBC', length: 256 }, hmacHashAlgorithm: 'SHA-256', iterationCount: PKCS12_ITERATIONS }, crypto);
    keyBag = new pkijs.SafeBag({ bagId: OID.pkcs8ShroudedKeyBag, bagValue: shrouded, bagAttributes: [...names, localKeyId] });
  }
  const keys = new pkijs.SafeContents({ safeBags: [keyBag] });

  const safe = new pkijs.AuthenticatedSafe({
    parsedValue: { safeContents: [{ privacyMode: password === null ? 0 : 1, value: certs }, { privacyMode: 0, value: keys }] },
  });
  await safe.makeInternalValues(
    {
      safeContents: password === null ? [{}, {}] : [{ password: password.slice().buffer, contentEncryptionAlgorithm: { name: 'AES-CBC', length: 256 }, hmacHashAlgorithm: 'SHA-256', iterationCount: PKCS12_ITERATIONS }, {}],
    },
    crypto,
  );

  if (password === null) {
    // No integrity protection asked for: the AuthenticatedSafe as plain data, without macData.
    const pfx = new pkijs.PFX({ authSafe: new pkijs.ContentInfo({ contentType: pkijs.ContentInfo.DATA, content: new asn1js.OctetString({ valueHex: safe.toSchema().toBER(false) }) }) });
    return new Uint8Array(pfx.toSchema().toBER(false));
  }
  const pfx = new pkijs.PFX({ parsedValue: { integrityMode: 0, authenticatedSafe: safe } });
  await pfx.makeInternalValues({ password: password.slice().buffer, iterations: PKCS12_ITERATIONS, pbkdf2HashAlgorithm: { name: 'SHA-256' }, hmacHashAlgorithm: 'SHA-256' }, crypto);
  return new Uint8Array(pfx.toSchema().toBER(false));
}
