import 'reflect-metadata';
import { randomBytes, X509Certificate } from 'node:crypto';
import { X509Certificate as PeculiarCert, X509Crl } from '@peculiar/x509';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import { OpencesError } from '../errors.js';
import { verifyCsrSignature } from '../protocol/pkcs10/verify.js';
import { buildCertificate, certificateParts } from './certificate-builder.js';
import { child, readTlv } from './der.js';
import type { Db } from '../store/db.js';
import { listCas } from '../store/ca-repo.js';
import { insertCrl, latestCrl } from '../store/crl-repo.js';
import { signCrl } from './crl.js';
import {
  authorityInfoAccess,
  authorityKeyIdentifier,
  basicConstraints,
  crlDistributionPoints,
  keyIdentifier,
  keyUsage,
  subjectKeyIdentifier,
} from './extensions.js';
import { pem } from './init.js';
import { encodeName } from './name.js';
import { newSerial } from './serial.js';
import type { CaKeyType, KeyStore } from './types.js';

/**
 * An offline root kept by opences on a machine that never serves: a directory with the root
 * certificate, its state (CRL number, what it issued and revoked) and, with the file key store,
 * its key under `secrets/` (or the key in a PKCS#11 token). `ca root init`, `ca root sign CSR`,
 * `ca root crl`; the CRL is carried to the server and imported for publication under /pki/.
 */
interface RootState {
  keyRef: string;
  keyType: CaKeyType;
  crlNumber: number;
  issued: Array<{ serial: string; subject: string; notAfter: string }>;
  revoked: Array<{ serial: string; revokedAt: string; reason: number }>;
}

const STATE = 'root.json';
const CERT = 'root.crt';

function readState(dir: string): RootState {
  const p = join(dir, STATE);
  if (!existsSync(p)) throw new OpencesError('notFound', `${dir} holds no offline root (opences ca root init --dir ${dir})`);
  return JSON.parse(readFileSync(p, 'utf8')) as RootState;
}
const writeState = (dir: string, s: RootState): void => writeFileSync(join(dir, STATE), JSON.stringify(s, null, 2) + '\n', { mode: 0o600 });

function addDays(d: Date, n: number): Date {
  return new Date(d.getTime() + n * 86400_000);
}

export async function rootInit(o: { dir: string; keyStore: KeyStore; keyType: CaKeyType; name: string; organization?: string; years: number; clock: Clock }): Promise<{ certificate: Uint8Array; path: string }> {
  if (existsSync(join(o.dir, STATE))) throw new OpencesError('conflict', `${o.dir} already holds a root`);
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const keyRef = `offline-root-${randomBytes(4).toString('hex')}`;
  const signer = await o.keyStore.create(keyRef, o.keyType);
  const name = encodeName([{ type: 'CN', value: o.name }, { type: 'O', value: o.organization ?? 'opences' }]);
  const now = o.clock.now();
  const der = await buildCertificate(signer, {
    serial: newSerial((n) => randomBytes(n)).bytes,
    issuerName: name,
    subjectName: name,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: addDays(now, 365 * o.years),
    spki: signer.spki,
    extensions: [basicConstraints(true), keyUsage(['digitalSignature', 'keyCertSign', 'cRLSign'], true), subjectKeyIdentifier(signer.spki)],
  });
  writeFileSync(join(o.dir, CERT), pem(der), { mode: 0o644 });
  writeState(o.dir, { keyRef, keyType: signer.keyType, crlNumber: 0, issued: [], revoked: [] });
  return { certificate: new Uint8Array(der), path: join(o.dir, CERT) };
}

/** Signs an issuing CA's CSR (proof of possession checked) as a CA certificate with pathLen 0. */
export async function rootSign(o: { dir: string; keyStore: KeyStore; csrDer: Uint8Array; days: number; crlUrl?: string; aiaUrl?: string; clock: Clock }): Promise<Uint8Array> {
  const state = readState(o.dir);
  if (!(await verifyCsrSignature(o.csrDer))) throw new OpencesError('badSignature', 'the CSR signature does not verify');
  // CertificationRequest ::= SEQUENCE { certificationRequestInfo SEQUENCE { version, subject, subjectPKInfo, attributes }, … }
  const info = child(o.csrDer, 0);
  const csr = { subjectDer: child(info, 1), spkiDer: child(info, 2) };
  const signer = await o.keyStore.open(state.keyRef);
  const root = certificateParts(new Uint8Array(new X509Certificate(readFileSync(join(o.dir, CERT))).raw));
  const serial = newSerial((n) => randomBytes(n));
  const now = o.clock.now();
  const notAfter = addDays(now, o.days);
  const der = await buildCertificate(signer, {
    serial: serial.bytes,
    issuerName: root.subjectName,
    subjectName: csr.subjectDer,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter,
    spki: csr.spkiDer,
    extensions: [
      basicConstraints(true, 0),
      keyUsage(['digitalSignature', 'keyCertSign', 'cRLSign'], true),
      subjectKeyIdentifier(csr.spkiDer),
      authorityKeyIdentifier(keyIdentifier(root.spki)),
      ...(o.aiaUrl ? [authorityInfoAccess(o.aiaUrl)] : []),
      ...(o.crlUrl ? [crlDistributionPoints(o.crlUrl)] : []),
    ],
  });
  state.issued.push({ serial: serial.hex, subject: new X509Certificate(der).subject.replace(/\n/g, ', '), notAfter: notAfter.toISOString() });
  writeState(o.dir, state);
  return new Uint8Array(der);
}

/** The root's CRL (its revocations so far), signed here; carried to the server for /pki/. */
export async function rootCrl(o: { dir: string; keyStore: KeyStore; days: number; clock: Clock }): Promise<Uint8Array> {
  const state = readState(o.dir);
  const signer = await o.keyStore.open(state.keyRef);
  const root = certificateParts(new Uint8Array(new X509Certificate(readFileSync(join(o.dir, CERT))).raw));
  const now = o.clock.now();
  state.crlNumber += 1;
  const der = await signCrl(signer, root.subjectName, keyIdentifier(root.spki), {
    number: state.crlNumber,
    thisUpdate: now,
    nextUpdate: addDays(now, o.days),
    entries: state.revoked.map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt), reason: r.reason })),
  });
  writeState(o.dir, state);
  return der;
}

/**
 * `opences ca import-crl FILE` on the server side: a CRL signed by the root recorded in this
 * deployment (the offline root's, carried over), stored so /pki/<root>.crl publishes it.
 */
export async function importRootCrl(db: Db, crlDer: Uint8Array): Promise<{ ca: string; number: number; nextUpdate: Date }> {
  let crl: X509Crl;
  try {
    crl = new X509Crl(Buffer.from(crlDer));
  } catch {
    throw new OpencesError('malformed', 'not a DER or PEM CRL');
  }
  const cas = await listCas(db);
  for (const c of cas) {
    const cert = new PeculiarCert(Buffer.from(c.certificate));
    if (cert.subject !== crl.issuer) continue;
    if (!(await crl.verify({ publicKey: cert }))) throw new OpencesError('badSignature', `the CRL names "${c.name}" as issuer but its signature does not verify with that CA's key`);
    if (c.kind === 'issuing') throw new OpencesError('conflict', `"${c.name}" publishes its own CRLs; only the CRL of a root or intermediate CA held elsewhere is imported`);
    const ext = crl.extensions.find((e) => e.type === '2.5.29.20');
    if (!ext) throw new OpencesError('malformed', 'the CRL has no CRL number');
    const v = new Uint8Array(ext.value);
    const t = readTlv(v, 0);
    const number = Number(BigInt(`0x${Buffer.from(v.subarray(t.header, t.header + t.length)).toString('hex') || '0'}`));
    if (!crl.nextUpdate) throw new OpencesError('malformed', 'the CRL has no nextUpdate');
    const latest = await latestCrl(db, c.id);
    if (latest && latest.number >= number) throw new OpencesError('conflict', `CRL number ${number} is not newer than the published ${latest.number}`);
    await insertCrl(db, { caId: c.id, number, delta: false, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, der: new Uint8Array(crl.rawData) });
    return { ca: c.name, number, nextUpdate: crl.nextUpdate };
  }
  throw new OpencesError('notFound', `no CA of this deployment is named ${crl.issuer}`);
}
