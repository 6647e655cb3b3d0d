import { createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OpencesError } from '../errors.js';
import type { Db } from '../store/db.js';
import { insertCa, listCas } from '../store/ca-repo.js';
import { bitString, implicitCons, integer, seq } from './der.js';
import { slugFor } from './init.js';
import { encodeName } from './name.js';
import type { CaKeyType, CaSigner, KeyStore } from './types.js';

/**
 * An issuing CA under a root that is not ours to hold (an offline root, openssl, ADCS): the key is
 * made here (file or token) and a PKCS#10 goes out; the certificate that comes back is installed
 * with its root. Until then `<dataDir>/ca-pending.json` says which key waits (a reference, never
 * key material), and the server refuses to start rather than make a hierarchy of its own.
 */
export const PENDING_FILE = 'ca-pending.json';

interface Pending {
  name: string;
  keyRef: string;
  keyType: CaKeyType;
  createdAt: string;
}

export function pendingIssuingCa(dataDir: string): Pending | null {
  const p = join(dataDir, PENDING_FILE);
  if (!existsSync(p)) return null;
  return JSON.parse(readFileSync(p, 'utf8')) as Pending;
}

/** PKCS#10 (RFC 2986) for `signer` with subject `name` (DER Name) and no attributes, signed by the key store. */
export async function buildCsr(signer: CaSigner, name: Uint8Array): Promise<Uint8Array> {
  const info = seq(integer(0), name, signer.spki, implicitCons(0, []));
  return new Uint8Array(seq(info, signer.signatureAlgorithm, bitString(await signer.sign(info))));
}

/** `opences ca init --issuing-only`: a new issuing CA key and its CSR; nothing in the database yet. */
export async function prepareIssuingCa(o: { db: Db; dataDir: string; keyStore: KeyStore; keyType: CaKeyType; caName: string; organization?: string }): Promise<{ csrDer: Uint8Array; keyRef: string }> {
  if ((await listCas(o.db)).length > 0) throw new OpencesError('conflict', 'this deployment already has a CA (opences ca renew makes a new certificate for it)');
  const existing = pendingIssuingCa(o.dataDir);
  const keyRef = existing?.keyRef ?? `issuing-ca-${randomBytes(4).toString('hex')}`;
  const signer = existing ? await o.keyStore.open(keyRef) : await o.keyStore.create(keyRef, o.keyType);
  const name = encodeName([{ type: 'CN', value: o.caName }, { type: 'O', value: o.organization ?? 'opences' }]);
  const csrDer = await buildCsr(signer, name);
  if (!existing) {
    mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
    const pending: Pending = { name: o.caName, keyRef, keyType: signer.keyType, createdAt: new Date().toISOString() };
    writeFileSync(join(o.dataDir, PENDING_FILE), JSON.stringify(pending, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  }
  return { csrDer, keyRef };
}

const keyTypeOfCert = (c: X509Certificate): CaKeyType => {
  const d = c.publicKey.asymmetricKeyDetails ?? {};
  if (c.publicKey.asymmetricKeyType === 'rsa' && [2048, 3072, 4096].includes(d.modulusLength ?? 0)) return `RSA-${d.modulusLength}` as CaKeyType;
  if (d.namedCurve === 'prime256v1') return 'P-256';
  if (d.namedCurve === 'secp384r1') return 'P-384';
  throw new OpencesError('badPublicKey', 'unsupported CA key type');
};

/** Splits a PEM bundle into DER certificates. */
export function pemCertificates(text: string): Buffer[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

/**
 * `opences ca install --cert ISSUING.pem --chain CHAIN.pem`: checks that the certificate is a CA
 * certificate for the waiting key, and that the chain (any order) leads from it through any
 * intermediate (policy) CAs to a self-signed root, each certificate a CA signed by the next; then
 * records them all: root, intermediates (never signed with here) and the issuing CA.
 */
export async function installIssuingCa(o: { db: Db; dataDir: string; keyStore: KeyStore; certificate: Uint8Array; chain: Uint8Array[] }): Promise<{ name: string; root: string; intermediates: string[] }> {
  const pending = pendingIssuingCa(o.dataDir);
  if (!pending) throw new OpencesError('notFound', `no issuing CA waits for its certificate in ${o.dataDir} (run opences ca init --issuing-only first)`);
  if ((await listCas(o.db)).length > 0) throw new OpencesError('conflict', 'this deployment already has a CA');
  const cert = new X509Certificate(Buffer.from(o.certificate));
  if (o.chain.length < 1 || o.chain.length > 4) throw new OpencesError('malformed', `--chain must hold the root and at most three intermediate CA certificates (got ${o.chain.length})`);
  const signer = await o.keyStore.open(pending.keyRef);
  const certSpki = cert.publicKey.export({ type: 'spki', format: 'der' });
  const keySpki = createPublicKey({ key: Buffer.from(signer.spki), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' });
  if (!certSpki.equals(keySpki)) throw new OpencesError('badCsr', `the certificate is not for the waiting key ${pending.keyRef}`);
  if (!cert.ca) throw new OpencesError('badCsr', 'the certificate is not a CA certificate (basicConstraints cA)');
  // From the issuing CA up: each step is a CA certificate that signed the one below, until a self-signed root.
  const given = o.chain.map((d) => new X509Certificate(Buffer.from(d)));
  const path: X509Certificate[] = [];
  let below = cert;
  for (;;) {
    const above = given.find((c) => !path.includes(c) && below.checkIssued(c) && below.verify(c.publicKey));
    if (!above) throw new OpencesError('badSignature', path.length === 0 ? 'the certificate was not issued by any certificate of the chain' : `"${cnOf(below)}" was not issued by any other certificate of the chain, and is not a self-signed root`);
    if (!above.ca) throw new OpencesError('badSignature', `"${cnOf(above)}" in the chain is not a CA certificate`);
    path.push(above);
    if (above.checkIssued(above) && above.verify(above.publicKey)) break;
    below = above;
  }
  if (path.length !== given.length) throw new OpencesError('malformed', 'the chain holds certificates that are not on the path from the issuing CA to the root');
  const root = path[path.length - 1]!;
  const intermediates = path.slice(0, -1).reverse(); // root's child first
  const name = cnOf(cert) ?? pending.name;
  const ref = (c: X509Certificate, kind: string) => `external-${kind}-${c.fingerprint256.replace(/:/g, '').slice(0, 16).toLowerCase()}`;
  await o.db.transaction(async (tx) => {
    let parentId = await insertCa(tx, { name: cnOf(root) ?? 'root', slug: slugFor(cnOf(root) ?? 'root'), kind: 'root', parentId: null, certificate: new Uint8Array(root.raw), keyRef: ref(root, 'root'), keyType: keyTypeOfCert(root) });
    for (const c of intermediates) {
      parentId = await insertCa(tx, { name: cnOf(c) ?? 'intermediate', slug: slugFor(cnOf(c) ?? 'intermediate'), kind: 'intermediate', parentId, certificate: new Uint8Array(c.raw), keyRef: ref(c, 'intermediate'), keyType: keyTypeOfCert(c) });
    }
    await insertCa(tx, { name, slug: slugFor(name), kind: 'issuing', parentId, certificate: new Uint8Array(cert.raw), keyRef: pending.keyRef, keyType: pending.keyType });
  });
  rmSync(join(o.dataDir, PENDING_FILE));
  return { name, root: cnOf(root) ?? 'root', intermediates: intermediates.map((c) => cnOf(c) ?? 'intermediate') };
}

const cnOf = (c: X509Certificate): string | undefined => c.subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3);
