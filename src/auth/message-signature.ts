import { SignedXml } from 'xml-crypto';
import { OpencesError } from '../errors.js';
import type { SoapEnvelope } from '../protocol/soap/envelope.js';
import { NS, X509V3 } from '../protocol/soap/namespaces.js';
import { child, childElements, text, type El } from '../protocol/soap/xml.js';
import { decodeBase64Token } from '../protocol/pkcs10/base64.js';

const ID_ATTRS: [string | null, string][] = [[NS.wsu, 'Id'], [null, 'Id'], [null, 'ID'], [null, 'id']];

function idOf(el: El): string | undefined {
  for (const [ns, name] of ID_ATTRS) {
    const v = ns ? el.getAttributeNS(ns, name) : el.getAttribute(name);
    if (v) return v;
  }
  return undefined;
}

/** Every Id value in the document with how often it occurs (signature wrapping hides behind duplicates). */
function idCounts(root: El): Map<string, number> {
  const counts = new Map<string, number>();
  const walk = (el: El): void => {
    for (const [ns, name] of ID_ATTRS) {
      const v = ns ? el.getAttributeNS(ns, name) : el.getAttribute(name);
      if (v) counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    for (const c of childElements(el)) walk(c);
  };
  walk(root);
  return counts;
}

const refused = (why: string): OpencesError => new OpencesError('unauthenticated', `message signature refused: ${why}`);

/**
 * WS-Security X.509 message authentication (WSS 1.1 X.509 Token Profile): a BinarySecurityToken and
 * an XML signature whose references cover the Body and the Timestamp. xml-crypto checks the
 * cryptography; this function makes sure the signed elements are exactly the ones the service reads
 * (../shared/facts.md: checkSignature alone accepts a wrapped Body):
 * - the Body is the Envelope's direct child, the Timestamp the Security header's, both carry Ids
 *   that occur exactly once in the document, and both are referenced by the signature;
 * - the key comes from the one BinarySecurityToken in this Security header that KeyInfo names;
 * - the Timestamp is fresh.
 * Returns the signer's certificate (DER) for the caller to validate like a TLS client certificate.
 */
export function verifyMessageSignature(env: SoapEnvelope, now: Date, maxSkewMs = 5 * 60_000): Uint8Array {
  const sec = env.header.security;
  if (!sec?.signature) throw refused('no signature');
  const ts = sec.timestamp;
  if (!ts) throw refused('no Timestamp');
  const tsId = idOf(ts.element);
  const bodyId = idOf(env.bodyElement);
  if (!tsId || !bodyId) throw refused('the Body and the Timestamp must carry wsu:Id');
  // parseEnvelope keeps the xmldom document for every message whose Security header is signed.
  if (!env.document) throw refused('the message was not parsed for signature verification');
  const counts = idCounts(env.document.documentElement as unknown as El);
  for (const [id, n] of counts) if (n > 1) throw refused(`the Id "${id}" occurs ${n} times`);

  const created = ts.created?.getTime();
  const expires = ts.expires?.getTime();
  if (created === undefined) throw refused('the Timestamp has no Created');
  if (created - now.getTime() > maxSkewMs) throw refused('the Timestamp is in the future');
  if (expires !== undefined ? expires + maxSkewMs < now.getTime() : now.getTime() - created > maxSkewMs) throw refused('the Timestamp has expired');

  const signedInfo = child(sec.signature, NS.ds, 'SignedInfo');
  const uris = new Set((signedInfo ? childElements(signedInfo) : []).filter((r) => r.namespaceURI === NS.ds && r.localName === 'Reference').map((r) => r.getAttribute('URI') ?? ''));
  if (!uris.has(`#${bodyId}`)) throw refused('the Body is not signed');
  if (!uris.has(`#${tsId}`)) throw refused('the Timestamp is not signed');

  if (sec.binarySecurityTokens.length !== 1) throw refused('exactly one BinarySecurityToken is expected');
  const bst = sec.binarySecurityTokens[0]!;
  if (bst.valueType !== X509V3) throw refused('the BinarySecurityToken is not an X.509 certificate');
  const keyInfo = child(sec.signature, NS.ds, 'KeyInfo');
  const ref = child(child(keyInfo, NS.wsse, 'SecurityTokenReference'), NS.wsse, 'Reference');
  if (!bst.id || ref?.getAttribute('URI') !== `#${bst.id}`) throw refused('KeyInfo does not reference the BinarySecurityToken of this header');
  const certDer = decodeBase64Token(text(bst.element) ?? '', 'BinarySecurityToken');
  const certPem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(certDer).toString('base64')}\n-----END CERTIFICATE-----\n`;

  const sig = new SignedXml({ publicCert: certPem, getCertFromKeyInfo: () => certPem, idMode: 'wssecurity' });
  try {
    sig.loadSignature(sec.signature as unknown as Parameters<SignedXml['loadSignature']>[0]);
    if (!sig.checkSignature(env.xml)) throw refused('the signature does not verify');
  } catch (e) {
    if (e instanceof OpencesError) throw e;
    throw refused('the signature does not verify');
  }
  return certDer;
}
