import { X509Certificate, createHash, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { C14nCanonicalization, ExclusiveCanonicalization } from 'xml-crypto';
import { NS } from '../protocol/soap/namespaces.js';
import type { Element as XElement } from '@xmldom/xmldom';

/**
 * XML signature verification (XML-DSig core validation, §3.2) on the document opences itself parsed.
 *
 * xml-crypto's checkSignature() takes the message as text and parses it again with the
 * @xmldom/xmldom it bundles (0.8), while opences reads messages with 0.9: two parsers reading the
 * same signed bytes, which can disagree (0.8 keeps two attributes with one expanded name, 0.9
 * keeps the last; 0.8 accepts an unbound prefix). Forcing xml-crypto onto 0.9 with npm `overrides`
 * does not work: it calls parseFromString() without a MIME type, which 0.9 refuses. So nothing here
 * parses: the references are found in, and canonicalized from, the very nodes the service reads;
 * xml-crypto provides only its canonicalizers (which walk a DOM and never parse), and node:crypto
 * the digests and the signature check. Only same-document references by Id and the two C14N
 * transforms are accepted — what WS-Security senders use — so no transform hands text to a parser.
 */

const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const C14N = 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315';

const DIGESTS: Record<string, { hash: string; sha1?: true }> = {
  'http://www.w3.org/2001/04/xmlenc#sha256': { hash: 'sha256' },
  'http://www.w3.org/2001/04/xmldsig-more#sha384': { hash: 'sha384' },
  'http://www.w3.org/2001/04/xmlenc#sha512': { hash: 'sha512' },
  'http://www.w3.org/2000/09/xmldsig#sha1': { hash: 'sha1', sha1: true },
};

const SIGNATURES: Record<string, { hash: string; key: 'rsa' | 'ec'; sha1?: true }> = {
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256': { hash: 'sha256', key: 'rsa' },
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384': { hash: 'sha384', key: 'rsa' },
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': { hash: 'sha512', key: 'rsa' },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256': { hash: 'sha256', key: 'ec' },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384': { hash: 'sha384', key: 'ec' },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512': { hash: 'sha512', key: 'ec' },
  'http://www.w3.org/2000/09/xmldsig#rsa-sha1': { hash: 'sha1', key: 'rsa', sha1: true },
};

const ID_ATTRS: [string | null, string][] = [[NS.wsu, 'Id'], [null, 'Id'], [null, 'ID'], [null, 'id']];

export class XmlSignatureError extends Error {}

export interface XmlSignatureOptions {
  /** Legacy clients: accept rsa-sha1 and SHA-1 digests (refused by default). */
  allowSha1?: boolean;
}

export interface VerifiedSignature {
  /** The elements the signature covers, as nodes of the verified document. */
  references: El[];
  /** SignatureValue (base64, whitespace removed): what a replay would carry again. */
  signatureValue: string;
  signatureAlgorithm: string;
}

type El = XElement;
type C14nInput = Parameters<ExclusiveCanonicalization['process']>[0];

function childElements(el: El): El[] {
  const out: El[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === 1) out.push(n as El);
  return out;
}

function text(el: El): string {
  let s = '';
  for (let n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === 3 || n.nodeType === 4) s += n.nodeValue ?? '';
  return s;
}

const fail = (why: string): never => {
  throw new XmlSignatureError(why);
};

function only(parent: El, local: string): El {
  const found = childElements(parent).filter((c) => c.namespaceURI === NS.ds && c.localName === local);
  if (found.length !== 1) fail(`the signature must have exactly one ${local}`);
  return found[0]!;
}

function byId(root: El, id: string): El {
  const found: El[] = [];
  const walk = (el: El): void => {
    for (const [ns, name] of ID_ATTRS) {
      const v = ns ? el.getAttributeNS(ns, name) : el.getAttribute(name);
      if (v === id) {
        found.push(el);
        break;
      }
    }
    for (const c of childElements(el)) walk(c);
  };
  walk(root);
  if (found.length !== 1) fail(found.length ? `the Id "${id}" occurs ${found.length} times` : `no element has the Id "${id}"`);
  return found[0]!;
}

/** Namespace declarations in scope on el from its ancestors, nearest first (C14N needs them once the subtree is cut out). */
function ancestorNamespaces(el: El): { prefix: string; namespaceURI: string }[] {
  const seen = new Set<string>();
  const own = el.attributes;
  for (let i = 0; i < own.length; i++) {
    const a = own.item(i)!;
    if (a.name === 'xmlns' || a.name.startsWith('xmlns:')) seen.add(a.name.replace(/^xmlns:?/, ''));
  }
  const out: { prefix: string; namespaceURI: string }[] = [];
  for (let p = el.parentNode; p && p.nodeType === 1; p = p.parentNode) {
    const attrs = (p as El).attributes;
    for (let i = 0; i < attrs.length; i++) {
      const a = attrs.item(i)!;
      if (a.name !== 'xmlns' && !a.name.startsWith('xmlns:')) continue;
      const prefix = a.name.replace(/^xmlns:?/, '');
      if (seen.has(prefix)) continue;
      seen.add(prefix);
      if (a.value !== '') out.push({ prefix, namespaceURI: a.value });
    }
  }
  return out;
}

function inclusivePrefixes(method: El): string[] {
  const inc = childElements(method).find((c) => c.namespaceURI === EXC_C14N && c.localName === 'InclusiveNamespaces');
  return (inc?.getAttribute('PrefixList') ?? '').split(/\s+/).filter(Boolean);
}

/** Canonical form of el (a copy is canonicalized: exclusive C14N adds declarations to what it is given). */
function canonicalize(el: El, algorithm: string, prefixes: string[]): string {
  const options = { ancestorNamespaces: ancestorNamespaces(el), inclusiveNamespacesPrefixList: prefixes, defaultNsForPrefix: {} };
  const copy = el.cloneNode(true) as unknown as C14nInput;
  if (algorithm === EXC_C14N) return new ExclusiveCanonicalization().process(copy, options).toString();
  if (algorithm === C14N) return new C14nCanonicalization().process(copy, options).toString();
  return fail(`the canonicalization ${algorithm} is not accepted`);
}

function sameBase64(a: string, b: Buffer): boolean {
  const x = Buffer.from(a.replace(/\s+/g, ''), 'base64');
  return x.length === b.length && timingSafeEqual(x, b);
}

/**
 * Verifies `signature` (a ds:Signature element of `root`'s document) with `certificateDer`'s key.
 * Throws XmlSignatureError saying what failed; returns what the signature covers.
 */
export function verifyXmlSignature(root: El, signature: El, certificateDer: Uint8Array, o: XmlSignatureOptions = {}): VerifiedSignature {
  const signedInfo = only(signature, 'SignedInfo');
  const signatureValue = (text(only(signature, 'SignatureValue')) ?? '').replace(/\s+/g, '');
  if (!signatureValue) fail('the SignatureValue is empty');

  const c14nMethod = only(signedInfo, 'CanonicalizationMethod');
  const c14n = c14nMethod.getAttribute('Algorithm') ?? '';
  const sigAlg = only(signedInfo, 'SignatureMethod').getAttribute('Algorithm') ?? '';
  const sig = SIGNATURES[sigAlg];
  if (!sig) fail(`the signature algorithm ${sigAlg || '(none)'} is not accepted`);
  if (sig!.sha1 && !o.allowSha1) fail(`the signature algorithm ${sigAlg} uses SHA-1 (auth.messageSignature.allowSha1 is off)`);

  const references: El[] = [];
  const refs = childElements(signedInfo).filter((c) => c.namespaceURI === NS.ds && c.localName === 'Reference');
  if (refs.length === 0 || refs.length > 16) fail('the signature must have between 1 and 16 references');
  for (const ref of refs) {
    const uri = ref.getAttribute('URI') ?? '';
    if (!/^#[A-Za-z_][\w.-]{0,255}$/.test(uri)) fail(`the reference URI "${uri.slice(0, 64)}" is not a same-document Id`);
    const target = byId(root, uri.slice(1));
    if (references.includes(target)) fail(`the element ${uri} is referenced twice`);
    const transformsEl = childElements(ref).find((c) => c.namespaceURI === NS.ds && c.localName === 'Transforms');
    const transforms = transformsEl ? childElements(transformsEl) : [];
    if (transforms.length > 1) fail(`the reference ${uri} has more than one transform`);
    const t = transforms[0];
    if (t && (t.namespaceURI !== NS.ds || t.localName !== 'Transform')) fail(`the reference ${uri} has an unknown element among its transforms`);
    const tAlg = t ? (t.getAttribute('Algorithm') ?? '') : C14N;
    const digestAlg = only(ref, 'DigestMethod').getAttribute('Algorithm') ?? '';
    const digest = DIGESTS[digestAlg];
    if (!digest) fail(`the digest algorithm ${digestAlg || '(none)'} is not accepted`);
    if (digest!.sha1 && !o.allowSha1) fail(`the reference ${uri} uses a SHA-1 digest (auth.messageSignature.allowSha1 is off)`);
    const canon = canonicalize(target, tAlg, t ? inclusivePrefixes(t) : []);
    const computed = createHash(digest!.hash).update(canon, 'utf8').digest();
    if (!sameBase64(text(only(ref, 'DigestValue')) ?? '', computed)) fail(`the digest of ${uri} does not match`);
    references.push(target);
  }

  let key: KeyObject;
  try {
    key = new X509Certificate(Buffer.from(certificateDer)).publicKey;
  } catch {
    return fail('the signer certificate cannot be read');
  }
  if (key.asymmetricKeyType !== sig!.key) fail(`the signature algorithm ${sigAlg} does not fit the certificate's ${key.asymmetricKeyType ?? 'unknown'} key`);
  const canonSignedInfo = canonicalize(signedInfo, c14n, inclusivePrefixes(c14nMethod));
  const ok = verify(sig!.hash, Buffer.from(canonSignedInfo, 'utf8'), sig!.key === 'ec' ? { key, dsaEncoding: 'ieee-p1363' } : key, Buffer.from(signatureValue, 'base64'));
  if (!ok) fail('the signature value does not verify');
  return { references, signatureValue, signatureAlgorithm: sigAlg };
}
