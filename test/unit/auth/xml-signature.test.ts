import { describe, expect, it, afterAll, beforeAll } from 'vitest';
import { createRequire } from 'node:module';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, createPrivateKey, sign, X509Certificate } from 'node:crypto';
import { DOMParser, type Element as XElement } from '@xmldom/xmldom';
import { ExclusiveCanonicalization, SignedXml } from 'xml-crypto';
import { verifyXmlSignature } from '../../../src/auth/xml-signature.js';
import { verifyMessageSignature } from '../../../src/auth/message-signature.js';
import { parseEnvelope } from '../../../src/protocol/soap/envelope.js';
import { NS } from '../../../src/protocol/soap/namespaces.js';
import { signedRst } from '../../helpers/wssec-sign.js';
import { makeCsr, openssl, tmp } from '../../helpers/openssl.js';

const EXC = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
/** The @xmldom/xmldom xml-crypto bundles (0.8), as xml-crypto itself loads it. */
const xmlCryptoRequire = createRequire(createRequire(import.meta.url).resolve('xml-crypto'));
const bundled = xmlCryptoRequire('@xmldom/xmldom') as typeof import('@xmldom/xmldom');
const bundledVersion = (xmlCryptoRequire('@xmldom/xmldom/package.json') as { version: string }).version;

/** opences's own reading: xmldom 0.9, every error fatal (as src/protocol/soap/envelope.ts parses). */
const ours = (xml: string) =>
  new DOMParser({
    onError: (level, msg) => {
      if (level !== 'warning') throw new Error(msg);
    },
  }).parseFromString(xml, 'text/xml');

let dir = '';
const keys: Record<'rsa' | 'ec', { keyPem: string; certPem: string; certDer: Uint8Array }> = {} as never;
beforeAll(() => {
  dir = tmp('opences-xmlsig-');
  for (const [k, arg] of [['rsa', 'rsa:2048'], ['ec', 'ec']] as const) {
    const extra = k === 'ec' ? ['-pkeyopt', 'ec_paramgen_curve:P-256'] : [];
    openssl(['req', '-x509', '-newkey', k === 'ec' ? 'ec' : arg, ...extra, '-nodes', '-subj', `/CN=signer-${k}`, '-days', '2', '-keyout', join(dir, `${k}.key`), '-out', join(dir, `${k}.crt`)]);
    const certPem = readFileSync(join(dir, `${k}.crt`), 'utf8');
    keys[k] = { keyPem: readFileSync(join(dir, `${k}.key`), 'utf8'), certPem, certDer: new Uint8Array(new X509Certificate(certPem).raw) };
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A document whose element d (wsu:Id="D") holds `inner`, with a placeholder for the signature. */
const doc = (inner: string): string => `<r xmlns:wsu="${NS.wsu}"><d wsu:Id="D">${inner}</d><!--SIG--></r>`;

/** Signs element D the way xml-crypto does: it parses the text with its own (0.8) xmldom. */
function signWithXmlCrypto(xml: string, keyPem: string): string {
  const sig = new SignedXml({ privateKey: keyPem, idMode: 'wssecurity' });
  sig.signatureAlgorithm = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
  sig.canonicalizationAlgorithm = EXC;
  sig.addReference({ xpath: "//*[local-name(.)='d']", transforms: [EXC], digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256' });
  sig.computeSignature(xml, { prefix: 'ds', location: { reference: "/*[local-name(.)='r']", action: 'append' } });
  return sig.getSignedXml();
}

/** Signs element D on opences's reading (0.9 parse, exclusive C14N), with RSA or ECDSA, SHA-256 or SHA-1. */
function signOnOurReading(xml: string, k: 'rsa' | 'ec', o: { sha1?: boolean } = {}): string {
  const d = ours(xml).getElementsByTagName('d')[0]!;
  const c14n = (el: unknown): string => new ExclusiveCanonicalization().process(el as Parameters<ExclusiveCanonicalization['process']>[0], {});
  const hash = o.sha1 ? 'sha1' : 'sha256';
  const digestAlg = o.sha1 ? `${DS}sha1` : 'http://www.w3.org/2001/04/xmlenc#sha256';
  const sigAlg = o.sha1 ? `${DS}rsa-sha1` : `http://www.w3.org/2001/04/xmldsig-more#${k === 'ec' ? 'ecdsa' : 'rsa'}-sha256`;
  const digest = createHash(hash).update(c14n(d)).digest('base64');
  const signedInfo =
    `<ds:SignedInfo><ds:CanonicalizationMethod Algorithm="${EXC}"/><ds:SignatureMethod Algorithm="${sigAlg}"/>` +
    `<ds:Reference URI="#D"><ds:Transforms><ds:Transform Algorithm="${EXC}"/></ds:Transforms><ds:DigestMethod Algorithm="${digestAlg}"/><ds:DigestValue>${digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>`;
  const withInfo = xml.replace('<!--SIG-->', `<ds:Signature xmlns:ds="${DS}">${signedInfo}<ds:SignatureValue>PLACEHOLDER</ds:SignatureValue></ds:Signature>`);
  const si = ours(withInfo).getElementsByTagNameNS(DS, 'SignedInfo')[0]!;
  const key = createPrivateKey(keys[k].keyPem);
  const value = sign(hash, Buffer.from(c14n(si)), k === 'ec' ? { key, dsaEncoding: 'ieee-p1363' } : key).toString('base64');
  return withInfo.replace('PLACEHOLDER', value);
}

const verifyOurs = (xml: string, k: 'rsa' | 'ec' = 'rsa', o: { allowSha1?: boolean } = {}) => {
  const d = ours(xml);
  const sig = d.getElementsByTagNameNS(DS, 'Signature')[0]! as XElement;
  return verifyXmlSignature(d.documentElement!, sig, keys[k].certDer, o);
};
const verifyXmlCrypto = (xml: string): boolean => {
  const d = new bundled.DOMParser().parseFromString(xml, 'text/xml');
  const sx = new SignedXml({ publicCert: keys.rsa.certPem, getCertFromKeyInfo: () => keys.rsa.certPem, idMode: 'wssecurity' });
  sx.loadSignature(d.getElementsByTagNameNS(DS, 'Signature')[0]! as unknown as Parameters<SignedXml['loadSignature']>[0]);
  try {
    return sx.checkSignature(xml);
  } catch {
    return false;
  }
};

describe('one XML parser for signatures (issue #17 item 4)', () => {
  it('xml-crypto bundles xmldom 0.8, which cannot be overridden to 0.9: xml-crypto calls parseFromString without a MIME type, which 0.9 refuses', () => {
    expect(bundledVersion).toMatch(/^0\.8\./);
    expect(() => new DOMParser().parseFromString('<a/>', undefined as unknown as 'text/xml')).toThrow(/mimeType/);
  });

  // Two attributes with one expanded name ({urn:x}c) break the Namespaces rec: 0.8 keeps both
  // without an error, 0.9 keeps the last without an error. The two readings canonicalize apart.
  const disputed = '<b xmlns:p="urn:x" xmlns:q="urn:x" p:c="1" q:c="2"/>';

  it('the two xmldom versions read the disputed input differently, both without an error', () => {
    const c14n = (d: { getElementsByTagName(n: string): ArrayLike<unknown> }): string => new ExclusiveCanonicalization().process(d.getElementsByTagName('b')[0] as Parameters<ExclusiveCanonicalization['process']>[0], {});
    const errors: string[] = [];
    const old = new bundled.DOMParser({ onError: (l: string, m: string) => void errors.push(`${l}: ${m}`) }).parseFromString(doc(disputed), 'text/xml');
    expect(c14n(old)).toBe('<b xmlns:p="urn:x" xmlns:q="urn:x" p:c="1" q:c="2"></b>');
    expect(c14n(ours(doc(disputed)))).toBe('<b xmlns:q="urn:x" q:c="2"></b>');
    expect(errors).toEqual([]);
  });

  it('refuses a signature made over xml-crypto’s (0.8) reading, which xml-crypto’s own check accepts', () => {
    const signed = signWithXmlCrypto(doc(disputed), keys.rsa.keyPem);
    expect(verifyXmlCrypto(signed)).toBe(true);
    expect(() => verifyOurs(signed)).toThrow(/the digest of #D does not match/);
  });

  it('accepts a signature made over our (0.9) reading, which xml-crypto’s own check refuses', () => {
    const signed = signOnOurReading(doc(disputed), 'rsa');
    expect(verifyOurs(signed).references.map((e) => e.localName)).toEqual(['d']);
    expect(verifyXmlCrypto(signed)).toBe(false);
  });

  it('never calls xml-crypto’s bundled parser while verifying a signed SOAP message', () => {
    const calls: string[] = [];
    const proto = bundled.DOMParser.prototype;
    const original = proto.parseFromString;
    const csr = makeCsr({ subject: 'CN=x.example.test', templateName: 'WebServer' });
    const xml = signedRst({ to: 'https://localhost/x', certDer: keys.rsa.certDer, keyPem: keys.rsa.keyPem, tokenB64: Buffer.from(csr.csrDer).toString('base64') });
    proto.parseFromString = function (this: InstanceType<typeof bundled.DOMParser>, ...args: Parameters<typeof original>) {
      calls.push(String(args[0]).slice(0, 40));
      return original.apply(this, args);
    };
    try {
      const env = parseEnvelope(xml, { maxBytes: 1 << 20 });
      expect(Buffer.from(verifyMessageSignature(env).certificate).equals(Buffer.from(keys.rsa.certDer))).toBe(true);
    } finally {
      proto.parseFromString = original;
    }
    expect(calls).toEqual([]);
  });
});

describe('signature algorithms (issue #17 item 3)', () => {
  it('accepts RSA-SHA256 and ECDSA-P256-SHA256 signatures', () => {
    expect(verifyOurs(signOnOurReading(doc('<x>1</x>'), 'rsa')).signatureAlgorithm).toMatch(/rsa-sha256$/);
    expect(verifyOurs(signOnOurReading(doc('<x>2</x>'), 'ec'), 'ec').signatureAlgorithm).toMatch(/ecdsa-sha256$/);
  });

  it('refuses SHA-1 unless the legacy setting allows it', () => {
    const signed = signOnOurReading(doc('<x>3</x>'), 'rsa', { sha1: true });
    expect(() => verifyOurs(signed)).toThrow(/rsa-sha1 uses SHA-1/);
    expect(verifyOurs(signed, 'rsa', { allowSha1: true }).signatureAlgorithm).toBe(`${DS}rsa-sha1`);
  });

  it('refuses an algorithm that does not fit the key, HMAC, a changed element and a wrong key', () => {
    const signed = signOnOurReading(doc('<x>4</x>'), 'rsa');
    expect(() => verifyOurs(signed, 'ec')).toThrow(/does not fit the certificate's ec key/);
    expect(() => verifyOurs(signed.replace(/xmldsig-more#rsa-sha256/, '2000/09/xmldsig#hmac-sha1'))).toThrow(/hmac-sha1 is not accepted/);
    expect(() => verifyOurs(signed.replace('<x>4</x>', '<x>5</x>'))).toThrow(/the digest of #D does not match/);
    const other = signOnOurReading(doc('<x>4</x>'), 'ec');
    expect(() => verifyOurs(other.replace(/ecdsa-sha256/, 'rsa-sha256'))).toThrow(/signature value does not verify|does not match/);
  });

  it('refuses references that are not same-document Ids, and transforms other than C14N', () => {
    const signed = signOnOurReading(doc('<x>6</x>'), 'rsa');
    expect(() => verifyOurs(signed.replace('URI="#D"', 'URI=""'))).toThrow(/not a same-document Id/);
    expect(() => verifyOurs(signed.replace(`<ds:Transform Algorithm="${EXC}"/>`, `<ds:Transform Algorithm="${DS}enveloped-signature"/>`))).toThrow(/is not accepted/);
  });
});
