import { randomBytes } from 'node:crypto';
import { buildCertificate, certificateParts } from '../src/ca/certificate-builder.js';
import { authorityInfoAccess, authorityKeyIdentifier, basicConstraints, crlDistributionPoints, extKeyUsage, keyIdentifier, keyUsage, subjectAltName, subjectKeyIdentifier } from '../src/ca/extensions.js';
import { FileKeyStore } from '../src/ca/keys/file.js';
import { encodeName } from '../src/ca/name.js';
import { newSerial } from '../src/ca/serial.js';
import type { CaKeyType } from '../src/ca/types.js';
import { closedLoop, type RateResult } from './stats.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';

/**
 * The CA engine's issuance path without the database: everything LocalCa.issue does per
 * certificate (serial, name, SAN, SKI, pre-encoded CA pieces, DER assembly, signature).
 */
export async function benchEngine(keyType: CaKeyType, seconds: number): Promise<RateResult> {
  const dir = mkdtempSync(join(tmpdir(), 'opences-bench-'));
  try {
    const signer = await new FileKeyStore(dir).create('bench', keyType);
    const caName = encodeName([{ type: 'CN', value: 'Bench CA' }]);
    const caCert = await buildCertificate(signer, { serial: randomBytes(16), issuerName: caName, subjectName: caName, notBefore: new Date(), notAfter: new Date(Date.now() + 86400e3 * 365), spki: signer.spki, extensions: [basicConstraints(true), subjectKeyIdentifier(signer.spki)] });
    const parts = certificateParts(caCert);
    const fixed = [authorityKeyIdentifier(keyIdentifier(parts.spki)), basicConstraints(false), keyUsage(['digitalSignature', 'keyEncipherment'], true), extKeyUsage(['1.3.6.1.5.5.7.3.1']), authorityInfoAccess('http://pki.example.test/pki/ca.crt'), crlDistributionPoints('http://pki.example.test/pki/ca.crl')];
    const spkis = Array.from({ length: 64 }, () => new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' })));
    return await closedLoop(`engine ${keyType}`, 64, seconds, async (i) => {
      const spki = spkis[i % spkis.length]!;
      const host = `host${i}.example.test`;
      await buildCertificate(signer, {
        serial: newSerial((n) => randomBytes(n)).bytes,
        issuerName: parts.subjectName,
        subjectName: encodeName([{ type: 'CN', value: host }]),
        notBefore: new Date(),
        notAfter: new Date(Date.now() + 86400e3 * 90),
        spki,
        extensions: [...fixed, subjectKeyIdentifier(spki), subjectAltName([{ type: 'dns', value: host }], false)],
      });
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
