/**
 * SCEP PKIOperation end to end (docs/scep.md): PKCSReqs from RSA-2048 devices with the profile's
 * static challenge, encrypted to the RA (AES-256-CBC) and signed (SHA-256), POSTed over HTTPS;
 * each answer a SUCCESS CertRep with the certificate encrypted back to the device. The messages
 * are built before the run, so the client's RSA work is not measured.
 */
import { X509Certificate, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { Pool } from 'undici';
import { bitString, implicitCons, integer, nullValue, oid, seq, set, utf8 } from '../src/ca/der.js';
import { encodeName } from '../src/ca/name.js';
import { buildPkiRequest, sealEnvelope } from '../src/protocol/scep/index.js';
import { CONCURRENCY, type ServerUnderTest } from './http.js';
import { closedLoop, type RateResult } from './stats.js';

export const BENCH_SCEP_SECRET = 'bench-scep-static-secret';
export const scepBenchYaml = (secretFile: string): string => `scep:\n  profiles:\n    bench:\n      template: WebServer\n      staticChallengeFile: ${secretFile}\n`;

const SHA256_RSA = '1.2.840.113549.1.1.11';
/** The signed attribute pkiStatus = "0" (SUCCESS) as it appears in a CertRep. */
const PKI_STATUS_SUCCESS = Buffer.from('060a6086480186f845010903310313013' + '0', 'hex');

/** A self-signed certificate for `key` (the PKCSReq's signer), DER. */
function selfSigned(key: { publicKey: KeyObject; privateKey: KeyObject }, cn: string): Uint8Array {
  const name = encodeName([{ type: 'CN', value: cn }]);
  const now = Date.now();
  const t = (d: number) => Buffer.concat([Buffer.from([0x17, 13]), Buffer.from(new Date(d).toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z')]);
  const tbs = seq(Buffer.from([0xa0, 3, 2, 1, 2]), integer(BigInt(`0x1${randomBytes(7).toString('hex')}`)), seq(oid(SHA256_RSA), nullValue()), name, seq(t(now - 60_000), t(now + 86_400_000)), name, key.publicKey.export({ type: 'spki', format: 'der' }));
  return new Uint8Array(seq(tbs, seq(oid(SHA256_RSA), nullValue()), bitString(sign('sha256', tbs, key.privateKey))));
}

/** A PKCS#10 for `cn` with the challengePassword, signed with SHA-256. */
function csrWithChallenge(key: { publicKey: KeyObject; privateKey: KeyObject }, cn: string, challenge: string): Uint8Array {
  const info = seq(integer(0), encodeName([{ type: 'CN', value: cn }]), key.publicKey.export({ type: 'spki', format: 'der' }), implicitCons(0, [seq(oid('1.2.840.113549.1.9.7'), set(utf8(challenge)))]));
  return new Uint8Array(seq(info, seq(oid(SHA256_RSA), nullValue()), bitString(sign('sha256', info, key.privateKey))));
}

/** `count` PKCSReq bodies from CONCURRENCY device keys (distinct names: every one is a new request). */
export function scepBodies(raEncryptDer: Uint8Array, count: number): Buffer[] {
  const devices = Array.from({ length: CONCURRENCY }, (_, i) => {
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 });
    return { key, cert: selfSigned(key, `bench-device-${i}`) };
  });
  return Array.from({ length: count }, (_, i) => {
    const d = devices[i % devices.length]!;
    const csr = csrWithChallenge(d.key, `d${i}-${randomBytes(3).toString('hex')}.scep.bench.test`, BENCH_SCEP_SECRET);
    const envelope = sealEnvelope({ content: csr, recipientCertDer: raEncryptDer, cipher: 'aes-256-cbc' });
    return Buffer.from(buildPkiRequest({ messageType: 'PKCSReq', transactionId: randomBytes(16).toString('hex'), senderNonce: randomBytes(16), envelope, signerCertDer: d.cert, signerKey: d.key.privateKey }));
  });
}

/** The RA encryption certificate, from GetCACert's degenerate PKCS#7 (its second certificate). */
async function raEncryptCertificate(p: Pool): Promise<Uint8Array> {
  const res = await p.request({ path: '/scep/bench?operation=GetCACert', method: 'GET' });
  const der = Buffer.from(await res.body.arrayBuffer());
  // Certificates are SEQUENCEs inside the [0] of the SignedData: take the one whose subject says "encryption".
  const { decodeSignedData } = await import('../src/protocol/pkcs7/index.js');
  const c = decodeSignedData(new Uint8Array(der)).certificates.find((x) => /SCEP RA encryption/.test(new X509Certificate(Buffer.from(x.der)).subject));
  if (!c) throw new Error('GetCACert named no RA encryption certificate');
  return c.der;
}

export async function benchScep(s: ServerUnderTest, seconds: number, label: string, warmupSeconds = 3): Promise<RateResult> {
  const p = new Pool(s.url, { connections: CONCURRENCY, pipelining: 1, connect: { rejectUnauthorized: false } });
  try {
    const bodies = scepBodies(await raEncryptCertificate(p), Math.max(2_000, Math.min(20_000, (seconds + warmupSeconds) * 400)));
    return await closedLoop(`${label} [undici]`, CONCURRENCY, seconds, async (i) => {
      const res = await p.request({ path: '/scep/bench?operation=PKIOperation', method: 'POST', headers: { 'content-type': 'application/x-pki-message' }, body: bodies[i % bodies.length]! });
      const rep = Buffer.from(await res.body.arrayBuffer());
      return res.statusCode === 200 && rep.includes(PKI_STATUS_SUCCESS);
    }, warmupSeconds, s.cpu);
  } finally {
    await p.close();
  }
}
