import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import { OpencesError } from '../errors.js';
import type { Db, Queryable } from '../store/db.js';
import { insertCa, listCas, type CaRow } from '../store/ca-repo.js';
import { buildCertificate } from './certificate-builder.js';
import {
  authorityInfoAccess,
  authorityKeyIdentifier,
  basicConstraints,
  crlDistributionPoints,
  keyIdentifier,
  keyUsage,
  subjectKeyIdentifier,
} from './extensions.js';
import { encodeName } from './name.js';
import { newSerial } from './serial.js';
import type { CaInfo, CaKeyType, CaSigner, KeyStore } from './types.js';

export interface InitCaOptions {
  db: Db;
  keyStore: KeyStore;
  keyType: CaKeyType;
  /** Default "opences Issuing CA". */
  caName?: string;
  /** Default "opences Root CA". */
  rootName?: string;
  pkiBaseUrl: string;
  clock: Clock;
  rootYears?: number;
  issuingYears?: number;
}

export interface CaHierarchy {
  info: CaInfo;
  root: CaRow;
  issuing: CaRow;
  /** True when this call created the hierarchy. */
  created: boolean;
}

export const slugFor = (name: string): string => name.replace(/[^A-Za-z0-9_.-]+/g, '_');

const INIT_LOCK = 0x63610001; // "ca" init

export const DEFAULT_CA_NAME = 'opences Issuing CA';
export const DEFAULT_ROOT_NAME = 'opences Root CA';

/**
 * Creates the root and issuing CA on first start, exactly once per database even when several
 * processes start together (advisory lock, then re-check). Later starts load what exists.
 */
export async function initCa(opts: InitCaOptions): Promise<CaHierarchy> {
  const o = { ...opts, caName: opts.caName ?? DEFAULT_CA_NAME, rootName: opts.rootName ?? DEFAULT_ROOT_NAME };
  const existing = await loadHierarchy(o.db);
  if (existing) return { ...existing, created: false };
  const created = await o.db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [INIT_LOCK]);
    if ((await listCas(tx)).length > 0) return false;
    const now = o.clock.now();
    const notBefore = new Date(now.getTime() - 60_000);
    // Labels unique per attempt: a process that crashes after creating keys but before commit
    // leaves unreferenced files, never a key another CA row points at.
    const suffix = randomBytes(4).toString('hex');
    const rootLabel = `root-ca-${suffix}`;
    const issuingLabel = `issuing-ca-${suffix}`;
    const rootSigner = await o.keyStore.create(rootLabel, o.keyType);
    const issuingSigner = await o.keyStore.create(issuingLabel, o.keyType);
    const rootSlug = slugFor(o.rootName);
    const rootName = encodeName([{ type: 'CN', value: o.rootName }, { type: 'O', value: 'opences' }]);
    const rootDer = await buildCertificate(rootSigner, {
      serial: newSerial((n) => randomBytes(n)).bytes,
      issuerName: rootName,
      subjectName: rootName,
      notBefore,
      notAfter: addYears(now, o.rootYears ?? 20),
      spki: rootSigner.spki,
      extensions: [basicConstraints(true), keyUsage(['digitalSignature', 'keyCertSign', 'cRLSign'], true), subjectKeyIdentifier(rootSigner.spki)],
    });
    const issuingName = encodeName([{ type: 'CN', value: o.caName }, { type: 'O', value: 'opences' }]);
    const issuingDer = await buildCertificate(rootSigner, {
      serial: newSerial((n) => randomBytes(n)).bytes,
      issuerName: rootName,
      subjectName: issuingName,
      notBefore,
      notAfter: addYears(now, o.issuingYears ?? 10),
      spki: issuingSigner.spki,
      extensions: issuingCaExtensions({ issuingSpki: issuingSigner.spki, rootSpki: rootSigner.spki, rootSlug, pkiBaseUrl: o.pkiBaseUrl }),
    });
    const rootId = await insertCa(tx, { name: o.rootName, slug: rootSlug, kind: 'root', parentId: null, certificate: rootDer, keyRef: rootLabel, keyType: o.keyType });
    await insertCa(tx, { name: o.caName, slug: slugFor(o.caName), kind: 'issuing', parentId: rootId, certificate: issuingDer, keyRef: issuingLabel, keyType: o.keyType });
    return true;
  });
  const h = await loadHierarchy(o.db);
  if (!h) throw new OpencesError('internal', 'CA initialisation left no CA behind');
  return { ...h, created };
}

/** The extensions of an issuing CA certificate our own root signs (at init and at every renewal). */
export function issuingCaExtensions(o: { issuingSpki: Uint8Array; rootSpki: Uint8Array; rootSlug: string; pkiBaseUrl: string }): Buffer[] {
  return [
    basicConstraints(true, 0),
    keyUsage(['digitalSignature', 'keyCertSign', 'cRLSign'], true),
    subjectKeyIdentifier(o.issuingSpki),
    authorityKeyIdentifier(keyIdentifier(o.rootSpki)),
    authorityInfoAccess(`${o.pkiBaseUrl}/pki/${o.rootSlug}.crt`),
    crlDistributionPoints(`${o.pkiBaseUrl}/pki/${o.rootSlug}.crl`),
  ];
}

/** The current certificate of the issuing CA and its root: after renewals, the newest generation (migrations/013). */
export async function loadHierarchy(db: Queryable): Promise<Omit<CaHierarchy, 'created'> | null> {
  const cas = await listCas(db);
  const issuing = cas.filter((c) => c.kind === 'issuing').reduce<CaRow | undefined>((newest, c) => (!newest || c.generation > newest.generation ? c : newest), undefined);
  if (!issuing) return null;
  // Up the parents: intermediates (a policy CA under a root held elsewhere), then the root.
  const above: CaRow[] = [];
  for (let id = issuing.parentId; id !== null && above.length < 8; ) {
    const parent = cas.find((c) => c.id === id);
    if (!parent) return null;
    above.push(parent);
    id = parent.parentId;
  }
  const root = above[above.length - 1];
  if (!root || root.kind !== 'root') return null;
  return {
    root,
    issuing,
    info: {
      name: issuing.name,
      slug: issuing.slug,
      issuingCertificate: issuing.certificate,
      rootCertificate: root.certificate,
      chain: [issuing.certificate, ...above.map((c) => c.certificate)],
    },
  };
}

/** Opens a CA's signing key, with a clear message when this node does not hold it. */
export async function openCaSigner(keyStore: KeyStore, ca: CaRow): Promise<CaSigner> {
  if (!(await keyStore.exists(ca.keyRef))) {
    throw new OpencesError('unavailable', `this node does not hold the key of "${ca.name}" (${ca.keyRef}); run it with the ca role on the node that does, or configure a remote CA (--ca-url)`);
  }
  return keyStore.open(ca.keyRef);
}

/**
 * Writes `<dataDir>/certs/root_ca.crt`, `issuing_ca.crt` and `ca_chain.crt` (PEM, world-readable:
 * they are public). Separate from initCa so that a node without the data directory (a remote
 * CA) and tests can skip it. Returns the paths written.
 */
export function writeCaCertificates(dataDir: string, info: CaInfo): { root: string; issuing: string; chain: string } {
  const dir = join(dataDir, 'certs');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const paths = { root: join(dir, 'root_ca.crt'), issuing: join(dir, 'issuing_ca.crt'), chain: join(dir, 'ca_chain.crt') };
  writeFileSync(paths.root, pem(info.rootCertificate), { mode: 0o644 });
  writeFileSync(paths.issuing, pem(info.issuingCertificate), { mode: 0o644 });
  writeFileSync(paths.chain, info.chain.map((c) => pem(c)).join(''), { mode: 0o644 });
  return paths;
}

export function pem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export function notAfterOf(der: Uint8Array): Date {
  return new Date(new X509Certificate(Buffer.from(der)).validTo);
}

export function addYears(d: Date, y: number): Date {
  const n = new Date(d);
  n.setUTCFullYear(n.getUTCFullYear() + y);
  return n;
}
