import { createPrivateKey, createPublicKey, generateKeyPair, sign, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OpencesError } from '../../errors.js';
import type { CaKeyType, CaSigner, KeyStore } from '../types.js';
import { generateOptions, signatureAlgorithmFor } from './algorithms.js';

const generate = promisify(generateKeyPair);

/**
 * A signer over a node:crypto KeyObject. By default signing is asynchronous: node:crypto's
 * callback form runs in libuv's threadpool, so every core signs while the main thread builds
 * the next TBSCertificate (bench/ca.ts measures it against the synchronous form).
 */
export class KeyObjectSigner implements CaSigner {
  readonly spki: Uint8Array;
  readonly signatureAlgorithm: Uint8Array;
  private readonly hash: string;

  constructor(
    readonly keyType: CaKeyType,
    private readonly key: KeyObject,
    private readonly mode: 'async' | 'sync' = 'async',
  ) {
    const alg = signatureAlgorithmFor(keyType);
    this.signatureAlgorithm = alg.der;
    this.hash = alg.hash;
    this.spki = new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
  }

  sign(data: Uint8Array): Promise<Uint8Array> {
    if (this.mode === 'sync') return Promise.resolve(new Uint8Array(sign(this.hash, data, { key: this.key, dsaEncoding: 'der' })));
    return new Promise((resolve, reject) => {
      sign(this.hash, data, { key: this.key, dsaEncoding: 'der' }, (err, sig) => (err ? reject(err) : resolve(new Uint8Array(sig))));
    });
  }
}

export function keyTypeOf(key: KeyObject): CaKeyType {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    const bits = d.modulusLength;
    if (bits === 2048 || bits === 3072 || bits === 4096) return `RSA-${bits}`;
  }
  if (key.asymmetricKeyType === 'ec') {
    if (d.namedCurve === 'prime256v1') return 'P-256';
    if (d.namedCurve === 'secp384r1') return 'P-384';
  }
  throw new OpencesError('internal', 'unsupported CA key type in the key store');
}

/**
 * Key stores: this file is the `file` one. A PKCS#11 store belongs beside it as
 * src/ca/keys/pkcs11.ts implementing the same KeyStore interface (src/ca/types.ts); its signer
 * hashes in JS and converts raw ECDSA r||s to DER (facts.md: SoftHSM2 has no combined
 * ECDSA-SHA256 mechanism). Nothing else in src/ca needs to change for it.
 *
 * CA keys as PKCS#8 PEM files in `<dataDir>/secrets/` (0600, directory 0700), encrypted with
 * AES-256-CBC under a passphrase when one is configured (OPENCES_CA_KEY_PASSPHRASE).
 */
export class FileKeyStore implements KeyStore {
  private readonly dir: string;

  constructor(
    dataDir: string,
    private readonly passphrase?: string,
  ) {
    this.dir = join(dataDir, 'secrets');
  }

  private path(label: string): string {
    if (!/^[a-z0-9][a-z0-9_.-]{0,63}$/i.test(label)) throw new OpencesError('internal', `bad key label ${label}`);
    return join(this.dir, `${label}.key`);
  }

  async exists(label: string): Promise<boolean> {
    return existsSync(this.path(label));
  }

  async create(label: string, keyType: CaKeyType): Promise<CaSigner> {
    const path = this.path(label);
    if (existsSync(path)) throw new OpencesError('conflict', `key ${label} already exists`);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
    const opts = generateOptions(keyType);
    const { privateKey } = opts.type === 'rsa' ? await generate('rsa', { modulusLength: opts.modulusLength }) : await generate('ec', { namedCurve: opts.namedCurve });
    const pem = this.passphrase
      ? privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: this.passphrase })
      : privateKey.export({ type: 'pkcs8', format: 'pem' });
    // 'wx': never overwrite a key another process created meanwhile.
    writeFileSync(path, pem, { mode: 0o600, flag: 'wx' });
    return new KeyObjectSigner(keyType, privateKey);
  }

  async open(label: string): Promise<CaSigner> {
    const path = this.path(label);
    let pem: string;
    try {
      pem = readFileSync(path, 'utf8');
    } catch {
      throw new OpencesError('unavailable', `CA key ${label} is missing from ${this.dir}`);
    }
    const encrypted = pem.includes('ENCRYPTED PRIVATE KEY');
    if (encrypted && !this.passphrase) throw new OpencesError('unavailable', `CA key ${label} is encrypted: set OPENCES_CA_KEY_PASSPHRASE`);
    let key: KeyObject;
    try {
      key = createPrivateKey(encrypted ? { key: pem, format: 'pem', passphrase: this.passphrase } : { key: pem, format: 'pem' });
    } catch {
      throw new OpencesError('unavailable', `cannot open CA key ${label}: wrong passphrase or damaged file`);
    }
    return new KeyObjectSigner(keyTypeOf(key), key);
  }
}
