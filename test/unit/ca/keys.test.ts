import { describe, expect, it } from 'vitest';
import { createPublicKey, verify } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileKeyStore, KeyObjectSigner } from '../../../src/ca/keys/file.js';
import type { CaKeyType } from '../../../src/ca/types.js';
import { opensslStatus, tmp, writeTmp } from '../../helpers/openssl.js';

const HASH: Record<CaKeyType, string> = { 'RSA-2048': 'sha256', 'RSA-3072': 'sha256', 'RSA-4096': 'sha256', 'P-256': 'sha256', 'P-384': 'sha384' };

describe('FileKeyStore', () => {
  for (const keyType of ['RSA-2048', 'RSA-3072', 'P-256', 'P-384'] as CaKeyType[]) {
    it(`creates, reopens and signs with a ${keyType} key (DER signatures that verify)`, async () => {
      const store = new FileKeyStore(tmp());
      const created = await store.create('ca-key', keyType);
      const reopened = await store.open('ca-key');
      expect(reopened.keyType).toBe(keyType);
      expect(Buffer.from(reopened.spki).equals(Buffer.from(created.spki))).toBe(true);
      const data = Buffer.from('to be signed');
      const sig = await reopened.sign(data);
      const pub = createPublicKey({ key: Buffer.from(created.spki), format: 'der', type: 'spki' });
      expect(verify(HASH[keyType], data, { key: pub, dsaEncoding: 'der' }, sig)).toBe(true);
      // the AlgorithmIdentifier names the matching algorithm
      const algHex = Buffer.from(created.signatureAlgorithm).toString('hex');
      expect(algHex).toBe(
        keyType.startsWith('RSA') ? '300d06092a864886f70d01010b0500' : keyType === 'P-256' ? '300a06082a8648ce3d040302' : '300a06082a8648ce3d040303',
      );
    });
  }

  it('keeps keys in 0600 files in a 0700 directory, even when the directory existed with wider modes', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'secrets'), { mode: 0o755 });
    chmodSync(join(dir, 'secrets'), 0o755);
    const store = new FileKeyStore(dir);
    await store.create('root', 'P-256');
    expect(statSync(join(dir, 'secrets')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'secrets', 'root.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'secrets', 'root.key'), 'utf8')).toContain('-----BEGIN PRIVATE KEY-----');
  });

  it('refuses to overwrite a key, names bad labels, and reports a missing key as unavailable', async () => {
    const store = new FileKeyStore(tmp());
    await store.create('k1', 'P-256');
    await expect(store.create('k1', 'P-256')).rejects.toMatchObject({ kind: 'conflict' });
    await expect(store.create('../escape', 'P-256')).rejects.toThrow(/bad key label/);
    await expect(store.open('nope')).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringMatching(/CA key nope is missing/) });
    expect(await store.exists('k1')).toBe(true);
    expect(await store.exists('nope')).toBe(false);
  });

  it('encrypts keys under a passphrase (PKCS#8, AES-256-CBC) that openssl can open, and refuses a wrong or missing one clearly', async () => {
    const dir = tmp();
    const store = new FileKeyStore(dir, 'correct horse battery staple');
    const signer = await store.create('enc', 'P-256');
    const pem = readFileSync(join(dir, 'secrets', 'enc.key'), 'utf8');
    expect(pem).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    expect(pem).not.toContain('-----BEGIN PRIVATE KEY-----');
    const info = opensslStatus(['asn1parse', '-in', join(dir, 'secrets', 'enc.key')]);
    expect(info.out).toContain('aes-256-cbc');
    const pw = writeTmp(tmp(), 'pw', 'correct horse battery staple');
    expect(opensslStatus(['pkey', '-in', join(dir, 'secrets', 'enc.key'), '-passin', `file:${pw}`, '-noout']).code).toBe(0);

    const reopened = await new FileKeyStore(dir, 'correct horse battery staple').open('enc');
    expect(Buffer.from(reopened.spki).equals(Buffer.from(signer.spki))).toBe(true);
    await expect(new FileKeyStore(dir, 'wrong').open('enc')).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringMatching(/cannot open CA key enc: wrong passphrase/) });
    await expect(new FileKeyStore(dir).open('enc')).rejects.toMatchObject({ message: expect.stringMatching(/encrypted: set OPENCES_CA_KEY_PASSPHRASE/) });
    // the passphrase never appears in the file
    expect(readdirSync(join(dir, 'secrets')).map((f) => readFileSync(join(dir, 'secrets', f), 'utf8')).join('')).not.toContain('correct horse');
  });

  it('signs synchronously or through the threadpool with the same result for RSA', async () => {
    const store = new FileKeyStore(tmp());
    await store.create('r', 'RSA-2048');
    const pem = readFileSync(join((store as unknown as { dir: string }).dir, 'r.key'), 'utf8');
    const { createPrivateKey } = await import('node:crypto');
    const key = createPrivateKey(pem);
    const a = await new KeyObjectSigner('RSA-2048', key, 'async').sign(Buffer.from('x'));
    const b = await new KeyObjectSigner('RSA-2048', key, 'sync').sign(Buffer.from('x'));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true); // PKCS#1 v1.5 is deterministic
  });
});
