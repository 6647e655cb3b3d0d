import { OpencesError } from '../errors.js';
import type { SoapEnvelope } from '../protocol/soap/envelope.js';
import { NS, X509V3 } from '../protocol/soap/namespaces.js';
import { child, childElements, text, type El } from '../protocol/soap/xml.js';
import { decodeBase64Token } from '../protocol/pkcs10/base64.js';
import type { Element as XElement } from '@xmldom/xmldom';
import { verifyXmlSignature, XmlSignatureError, type XmlSignatureOptions } from './xml-signature.js';

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
 * an XML signature whose references cover the Body and the Timestamp. The signature is verified on
 * the document the service reads (src/auth/xml-signature.ts: no second parser); this function makes
 * sure the signed elements are exactly the ones the service reads (../shared/facts.md: a valid
 * signature alone does not stop a wrapped Body):
 * - the Body is the Envelope's direct child, the Timestamp the Security header's, both carry Ids
 *   that occur exactly once in the document, and both are among the signed nodes themselves;
 * - the key comes from the one BinarySecurityToken in this Security header that KeyInfo names;
 * - SHA-1 only when the legacy setting allows it.
 * Freshness (the signed Timestamp) and replay (the signature value) are checked by the caller with
 * the deployment's replay store (src/auth/replay.ts). Returns the signer's certificate (DER), to be
 * validated like a TLS client certificate, and the signature value.
 */
export function verifyMessageSignature(env: SoapEnvelope, o: XmlSignatureOptions = {}): { certificate: Uint8Array; signatureValue: string } {
  const sec = env.header.security;
  if (!sec?.signature) throw refused('no signature');
  const ts = sec.timestamp;
  if (!ts) throw refused('no Timestamp');
  const tsId = idOf(ts.element);
  const bodyId = idOf(env.bodyElement);
  if (!tsId || !bodyId) throw refused('the Body and the Timestamp must carry wsu:Id');
  // parseEnvelope keeps the xmldom document for every message whose Security header is signed.
  if (!env.document) throw refused('the message was not parsed for signature verification');
  const root = env.document.documentElement as unknown as El;
  const counts = idCounts(root);
  for (const [id, n] of counts) if (n > 1) throw refused(`the Id "${id}" occurs ${n} times`);
  if (ts.created === undefined) throw refused('the Timestamp has no Created');

  if (sec.binarySecurityTokens.length !== 1) throw refused('exactly one BinarySecurityToken is expected');
  const bst = sec.binarySecurityTokens[0]!;
  if (bst.valueType !== X509V3) throw refused('the BinarySecurityToken is not an X.509 certificate');
  const keyInfo = child(sec.signature, NS.ds, 'KeyInfo');
  const ref = child(child(keyInfo, NS.wsse, 'SecurityTokenReference'), NS.wsse, 'Reference');
  if (!bst.id || ref?.getAttribute('URI') !== `#${bst.id}`) throw refused('KeyInfo does not reference the BinarySecurityToken of this header');
  const certDer = decodeBase64Token(text(bst.element) ?? '', 'BinarySecurityToken');

  let verified;
  try {
    verified = verifyXmlSignature(env.document.documentElement!, sec.signature as unknown as XElement, certDer, o);
  } catch (e) {
    if (e instanceof XmlSignatureError) throw refused(e.message);
    throw refused('the signature does not verify');
  }
  const signed = new Set<unknown>(verified.references);
  if (!signed.has(env.bodyElement)) throw refused('the Body is not signed');
  if (!signed.has(ts.element)) throw refused('the Timestamp is not signed');
  return { certificate: certDer, signatureValue: verified.signatureValue };
}
