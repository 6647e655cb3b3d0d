import { describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeSpki, parseCsr, splitCsr, verifyCsrSignature } from '../../../src/protocol/pkcs10/index.js';
import { decodeDer, encodeDer, type Der } from '../../fuzz/mutators.js';
import { buildTestCsr } from '../pkcs10/csr-builder.js';

/** Inputs the fuzz campaign (test/fuzz) found that crashed a parser, each kept as a regression test. */
describe('fuzz findings', () => {
  it('pkcs10: RSASSA-PSS parameters holding a GeneralizedTime that is not a time: asn1js threw "Wrong input string for conversion"; now the signature does not verify', async () => {
    const der = buildTestCsr({ key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, signature: 'pss-sha256' });
    const top = decodeDer(der)![0] as Extract<Der, { children: Der[] }>;
    const alg = top.children[1] as Extract<Der, { children: Der[] }>;
    // AlgorithmIdentifier { id-RSASSA-PSS, SEQUENCE { [0] { GeneralizedTime "zz" } } }
    alg.children[1] = { tag: 0x30, children: [{ tag: 0xa0, children: [{ tag: 0x18, bytes: Buffer.from('zz') }] }] };
    const bad = encodeDer(top);
    expect(parseCsr(bad).signatureAlgorithm).toBe('1.2.840.113549.1.1.10');
    await expect(verifyCsrSignature(bad)).resolves.toBe(false);
  });

  it('pkcs10: a DSA key is described from its Dss-Parms and never imported (node 20 aborted the whole process, a native assertion in GetDsaKeyDetail, reading asymmetricKeyDetails of a crafted DSA key)', () => {
    const der = new Uint8Array(readFileSync(join(__dirname, '../../fixtures/bad/csr/dsa_key.der.csr')));
    const d = describeSpki(splitCsr(der).spki);
    expect(d.key).toBeNull();
    expect(d.publicKey).toMatchObject({ algorithm: 'DSA', bits: 2048 });
    expect(parseCsr(der).publicKey).toMatchObject({ algorithm: 'DSA', bits: 2048 });
  });
});
