import { createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import { OpencesError } from '../errors.js';
import type { Db } from '../store/db.js';
import { insertCa, listCas, type CaRow } from '../store/ca-repo.js';
import { buildCertificate, certificateParts } from './certificate-builder.js';
import { buildCsr } from './external.js';
import { issuingGenerations } from './generations.js';
import { addYears, issuingCaExtensions, notAfterOf } from './init.js';
import { newSerial } from './serial.js';
import type { CaKeyType, CaSigner, KeyStore } from './types.js';

/**
 * `opences ca renew [--new-key]`: a new certificate for the issuing CA, with its key or a new one
 * made in the same key store (file, or the same PKCS#11 token). The issuer of the current
 * certificate signs the next: when this node holds its key (a hierarchy made by `ca init`) at once,
 * and it becomes the next generation; when it is held elsewhere (a root, or an intermediate under
 * it) a CSR goes out and `opences ca install` takes the signed certificate as the next generation,
 * as ADCS's renewal of a subordinate CA does. Until then
 * `<dataDir>/ca-renewal-pending.json` names the waiting key (a reference, never key material).
 */
export const RENEWAL_PENDING_FILE = 'ca-renewal-pending.json';

const RENEW_LOCK = 0x63610002; // "ca" renew: one new generation at a time

interface PendingRenewal {
  name: string;
  keyRef: string;
  keyType: CaKeyType;
  newKey: boolean;
  createdAt: string;
}

export function pendingRenewal(dataDir: string): PendingRenewal | null {
  const p = join(dataDir, RENEWAL_PENDING_FILE);
  if (!existsSync(p)) return null;
  return JSON.parse(readFileSync(p, 'utf8')) as PendingRenewal;
}

export type RenewResult =
  | { status: 'installed'; name: string; generation: number; keyIndex: number; newKey: boolean; certificate: Uint8Array; keyRef: string }
  | { status: 'csr'; name: string; csrDer: Uint8Array; keyRef: string; newKey: boolean };

export interface RenewOptions {
  db: Db;
  dataDir: string;
  keyStore: KeyStore;
  clock: Clock;
  pkiBaseUrl: string;
  newKey: boolean;
  /** Key type of a new key (default: the current key's). */
  keyType?: CaKeyType;
  /** Validity of a certificate our root signs (default 10 years, never past the root's end). */
  years?: number;
  /** Write a CSR even when this node holds the root key (the root signs elsewhere). */
  csr?: boolean;
}

export async function renewIssuingCa(o: RenewOptions): Promise<RenewResult> {
  const g = await issuingGenerations(o.db);
  if (!g) throw new OpencesError('notFound', 'this deployment has no issuing CA to renew (opences ca init first)');
  if (pendingRenewal(o.dataDir)) throw new OpencesError('conflict', `a renewal already waits for its certificate (${RENEWAL_PENDING_FILE}): opences ca install --cert NEW.pem`);
  // The issuer of the current certificate signs the next: our root (ca init), or a CA held elsewhere (root or intermediate).
  const issuerHere = await o.keyStore.exists(g.parent.keyRef);
  if (!issuerHere && !o.csr) throw new OpencesError('malformed', `"${g.parent.name}" is not on this node: add --csr-out FILE, have it signed there, then opences ca install --cert NEW.pem`);
  const keyType = (o.keyType ?? g.current.keyType) as CaKeyType;
  // Labels unique per attempt, as at init: a failed renewal leaves an unreferenced key, never one a CA row points at.
  const keyRef = o.newKey ? `issuing-ca-${randomBytes(4).toString('hex')}` : g.current.keyRef;
  const signer: CaSigner = o.newKey ? await o.keyStore.create(keyRef, keyType) : await o.keyStore.open(keyRef);
  const subjectName = certificateParts(g.current.certificate).subjectName;

  if (!issuerHere || o.csr) {
    const csrDer = await buildCsr(signer, subjectName);
    mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
    const pending: PendingRenewal = { name: g.current.name, keyRef, keyType: signer.keyType, newKey: o.newKey, createdAt: o.clock.now().toISOString() };
    writeFileSync(join(o.dataDir, RENEWAL_PENDING_FILE), JSON.stringify(pending, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    return { status: 'csr', name: g.current.name, csrDer, keyRef, newKey: o.newKey };
  }

  const rootSigner = await o.keyStore.open(g.parent.keyRef);
  const now = o.clock.now();
  const rootEnd = notAfterOf(g.parent.certificate);
  const wanted = addYears(now, o.years ?? 10);
  const certificate = new Uint8Array(
    await buildCertificate(rootSigner, {
      serial: newSerial((n) => randomBytes(n)).bytes,
      issuerName: certificateParts(g.parent.certificate).subjectName,
      subjectName,
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: wanted.getTime() < rootEnd.getTime() ? wanted : rootEnd,
      spki: signer.spki,
      extensions: issuingCaExtensions({ issuingSpki: signer.spki, rootSpki: rootSigner.spki, rootSlug: g.parent.slug, pkiBaseUrl: o.pkiBaseUrl }),
    }),
  );
  const row = await addGeneration(o.db, { certificate, keyRef, keyType: signer.keyType, newKey: o.newKey });
  return { status: 'installed', name: row.name, generation: row.generation, keyIndex: row.keyIndex, newKey: o.newKey, certificate, keyRef };
}

/**
 * `opences ca install --cert NEW.pem` after `ca renew --csr-out`: checks that the certificate is a
 * CA certificate for the waiting key, issued by this deployment's root (or the root given), and
 * records it as the next generation.
 */
export async function installRenewal(o: { db: Db; dataDir: string; keyStore: KeyStore; certificate: Uint8Array; chain: Uint8Array[] }): Promise<Extract<RenewResult, { status: 'installed' }>> {
  const pending = pendingRenewal(o.dataDir);
  if (!pending) throw new OpencesError('notFound', `no renewal waits for its certificate in ${o.dataDir}`);
  const g = await issuingGenerations(o.db);
  if (!g) throw new OpencesError('notFound', 'this deployment has no issuing CA');
  const cert = new X509Certificate(Buffer.from(o.certificate));
  const issuer = new X509Certificate(Buffer.from(g.parent.certificate));
  const recorded = (await listCas(o.db)).filter((c) => c.kind !== 'issuing').map((c) => Buffer.from(c.certificate));
  if (o.chain.some((c) => !recorded.some((r) => r.equals(c)))) {
    throw new OpencesError('unsupported', "a renewed issuing CA stays under this deployment's root and intermediates: --chain may hold those only");
  }
  const signer = await o.keyStore.open(pending.keyRef);
  const keySpki = createPublicKey({ key: Buffer.from(signer.spki), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' });
  if (!cert.publicKey.export({ type: 'spki', format: 'der' }).equals(keySpki)) throw new OpencesError('badCsr', `the certificate is not for the waiting key ${pending.keyRef}`);
  if (!cert.ca) throw new OpencesError('badCsr', 'the certificate is not a CA certificate (basicConstraints cA)');
  if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) throw new OpencesError('badSignature', `the certificate was not issued by "${g.parent.name}", the issuer of the current one`);
  const row = await addGeneration(o.db, { certificate: new Uint8Array(cert.raw), keyRef: pending.keyRef, keyType: pending.keyType, newKey: pending.newKey });
  rmSync(join(o.dataDir, RENEWAL_PENDING_FILE));
  return { status: 'installed', name: row.name, generation: row.generation, keyIndex: row.keyIndex, newKey: pending.newKey, certificate: new Uint8Array(cert.raw), keyRef: pending.keyRef };
}

/** Records the next generation (under a lock: two renewals at once make two generations, never one number twice). */
async function addGeneration(db: Db, c: { certificate: Uint8Array; keyRef: string; keyType: string; newKey: boolean }): Promise<CaRow> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [RENEW_LOCK]);
    const g = await issuingGenerations(tx);
    if (!g) throw new OpencesError('notFound', 'this deployment has no issuing CA');
    const generation = g.current.generation + 1;
    // ADCS: a new key's index is the certificate index at which it appeared; a kept key keeps its index.
    const keyIndex = c.newKey ? generation : g.rows.find((r) => r.keyRef === c.keyRef)?.keyIndex ?? g.current.keyIndex;
    const row: Omit<CaRow, 'id'> = { name: g.current.name, slug: g.current.slug, kind: 'issuing', parentId: g.parent.id, certificate: c.certificate, keyRef: c.keyRef, keyType: c.keyType, generation, keyIndex };
    const id = await insertCa(tx, row);
    return { ...row, id };
  });
}
