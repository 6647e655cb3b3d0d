import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as Pkcs11Types from 'pkcs11js';
import { OpencesError } from '../../errors.js';
import { integerFromBytes, nullValue, oid, readTlv, seq } from '../der.js';
import type { CaKeyType, CaSigner, KeyStore } from '../types.js';
import { signatureAlgorithmFor } from './algorithms.js';

// pkcs11js is a CommonJS native addon; load it lazily so a file-key deployment never needs it.
const require = createRequire(import.meta.url);
type Pkcs11Module = typeof Pkcs11Types;
type Session = Buffer;

export interface Pkcs11Settings {
  /** Path of the vendor's PKCS#11 library (libsofthsm2.so, yubihsm_pkcs11.so, libCryptoki2_64.so …). */
  module: string;
  /** The token, by label or by serial number (one of them). */
  tokenLabel?: string;
  tokenSerial?: string;
  /** The user PIN, read by the caller from `pinFile` or the environment (never a flag). */
  pin: string;
  /** Where the PIN came from, for error messages ("ca.pkcs11.pinFile", "OPENCES_PKCS11_PIN"). */
  pinSource: string;
  /** Sessions signing at once (each runs its C_Sign in libuv's threadpool). */
  sessions?: number;
  /** RSA signatures: PKCS#1 v1.5 (default) or RSASSA-PSS. */
  rsaPadding?: 'pkcs1' | 'pss';
}

/** PKCS#11 constants we use (pkcs11js exports them, typed loosely). */
interface K {
  CKO_PRIVATE_KEY: number; CKO_PUBLIC_KEY: number; CKA_CLASS: number; CKA_LABEL: number; CKA_ID: number; CKA_KEY_TYPE: number;
  CKA_TOKEN: number; CKA_PRIVATE: number; CKA_SENSITIVE: number; CKA_EXTRACTABLE: number; CKA_SIGN: number; CKA_VERIFY: number;
  CKA_MODULUS_BITS: number; CKA_PUBLIC_EXPONENT: number; CKA_MODULUS: number; CKA_EC_PARAMS: number; CKA_EC_POINT: number;
  CKK_RSA: number; CKK_EC: number; CKM_RSA_PKCS_KEY_PAIR_GEN: number; CKM_EC_KEY_PAIR_GEN: number; CKM_RSA_PKCS: number;
  CKM_RSA_PKCS_PSS: number; CKM_ECDSA: number; CKM_SHA256: number; CKM_SHA384: number; CKG_MGF1_SHA256: number; CKG_MGF1_SHA384: number;
  CKF_SERIAL_SESSION: number; CKF_RW_SESSION: number; CKF_OS_LOCKING_OK: number; CKU_USER: number; CK_PARAMS_RSA_PSS: number;
}

// CK_STATE values (PKCS#11 2.40 §5.6).
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;

const CURVES: Record<'P-256' | 'P-384', { oid: string; size: number }> = {
  'P-256': { oid: '1.2.840.10045.3.1.7', size: 32 },
  'P-384': { oid: '1.3.132.0.34', size: 48 },
};

// DigestInfo prefixes (RFC 8017 §9.2 note 1): CKM_RSA_PKCS signs DigestInfo built here, which every
// module supports, where the combined CKM_SHA256_RSA_PKCS is optional.
const DIGEST_INFO: Record<string, Buffer> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
};

/** Return values after which a fresh login (and, if need be, a fresh module) may help. */
const RECOVERABLE = new Set([
  'CKR_SESSION_HANDLE_INVALID', 'CKR_SESSION_CLOSED', 'CKR_USER_NOT_LOGGED_IN', 'CKR_OBJECT_HANDLE_INVALID', 'CKR_KEY_HANDLE_INVALID',
  'CKR_TOKEN_NOT_PRESENT', 'CKR_TOKEN_NOT_RECOGNIZED', 'CKR_DEVICE_REMOVED', 'CKR_DEVICE_ERROR', 'CKR_GENERAL_ERROR',
  'CKR_CRYPTOKI_NOT_INITIALIZED', 'CKR_SLOT_ID_INVALID', 'CKR_OPERATION_ACTIVE', 'CKR_DEVICE_MEMORY',
]);

function codeName(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return /CKR_[A-Z_]+/.exec(m)?.[0] ?? m;
}

/**
 * CA keys inside a PKCS#11 token (an HSM; SoftHSM2 in tests). Keys are generated in the token as
 * sensitive, non-extractable token objects labelled with the CA row's key reference; nothing
 * key-related is written anywhere else. Signing hashes in JavaScript and hands the token only the
 * digest (CKM_RSA_PKCS over DigestInfo, CKM_RSA_PKCS_PSS, or CKM_ECDSA whose raw r||s becomes DER),
 * so it works with modules that lack the combined mechanisms (SoftHSM2 has no ECDSA-SHA256).
 *
 * A pool of sessions signs concurrently; C_Sign runs asynchronously (pkcs11js's worker in libuv's
 * threadpool), so the event loop only does C_SignInit. When the token drops our sessions or login
 * (closed under us, logged out, a module error), the pool logs in again, finds the key again and
 * retries once; if that fails too the caller gets an 'unavailable' error (503 / a Receiver fault)
 * and `health()` says so (/readyz) until a later attempt succeeds.
 */
export class Pkcs11KeyStore implements KeyStore {
  private readonly p: Pkcs11Types.PKCS11;
  private readonly k: K;
  private slot!: Buffer;
  private idle: Session[] = [];
  private all: Session[] = [];
  private waiters: Array<(s: Session) => void> = [];
  private generation = 0;
  private recovering: Promise<void> | null = null;
  private lastError: string | null = null;

  private constructor(
    private readonly lib: Pkcs11Module,
    private readonly s: Pkcs11Settings,
  ) {
    this.p = new lib.PKCS11();
    this.k = lib as unknown as K;
  }

  /** Loads the module, finds the token, opens the pool and logs in; each failure names its setting. */
  static open(s: Pkcs11Settings): Pkcs11KeyStore {
    let lib: Pkcs11Module;
    try {
      lib = require('pkcs11js') as Pkcs11Module;
    } catch (e) {
      throw new OpencesError('unavailable', `ca.pkcs11: the pkcs11js binding is not installed (${(e as Error).message})`);
    }
    if (!s.tokenLabel === !s.tokenSerial) throw new OpencesError('unavailable', 'ca.pkcs11: set exactly one of tokenLabel and tokenSerial');
    const store = new Pkcs11KeyStore(lib, s);
    try {
      store.p.load(s.module);
    } catch (e) {
      throw new OpencesError('unavailable', `ca.pkcs11.module: cannot load the PKCS#11 module ${s.module}: ${(e as Error).message}`);
    }
    store.connect();
    return store;
  }

  /** C_Initialize (tolerating an earlier one in this process), slot lookup, sessions, login. */
  private connect(): void {
    try {
      // C_Sign runs on libuv's threads while the loop calls C_SignInit on other sessions: the module
      // must lock (without CKF_OS_LOCKING_OK SoftHSM2 may assume one thread and corrupt its heap).
      this.p.C_Initialize({ flags: this.k.CKF_OS_LOCKING_OK });
    } catch (e) {
      if (codeName(e) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') throw new OpencesError('unavailable', `ca.pkcs11.module: C_Initialize failed: ${codeName(e)}`);
    }
    this.slot = this.findSlot();
    const n = Math.max(1, this.s.sessions ?? 4);
    const sessions: Session[] = [];
    for (let i = 0; i < n; i++) sessions.push(this.p.C_OpenSession(this.slot, this.k.CKF_SERIAL_SESSION | this.k.CKF_RW_SESSION));
    try {
      this.p.C_Login(sessions[0]!, this.k.CKU_USER, this.s.pin);
    } catch (e) {
      const c = codeName(e);
      if (c !== 'CKR_USER_ALREADY_LOGGED_IN') {
        for (const x of sessions) this.closeQuietly(x);
        if (c === 'CKR_PIN_INCORRECT' || c === 'CKR_PIN_LEN_RANGE' || c === 'CKR_PIN_INVALID') throw new OpencesError('unavailable', `${this.s.pinSource}: the token refused the PIN (${c})`);
        if (c === 'CKR_PIN_LOCKED') throw new OpencesError('unavailable', `${this.s.pinSource}: the token's user PIN is locked (${c})`);
        throw new OpencesError('unavailable', `ca.pkcs11: login to the token failed (${c})`);
      }
    }
    this.all = sessions;
    this.idle = [...sessions];
    this.generation++;
    // Waiters from before a reconnect take the new sessions.
    while (this.waiters.length > 0 && this.idle.length > 0) this.waiters.shift()!(this.idle.pop()!);
  }

  private findSlot(): Buffer {
    const setting = this.s.tokenLabel !== undefined ? 'ca.pkcs11.tokenLabel' : 'ca.pkcs11.tokenSerial';
    const want = (this.s.tokenLabel ?? this.s.tokenSerial)!.trim();
    const seen: string[] = [];
    for (const slot of this.p.C_GetSlotList(true)) {
      const t = this.p.C_GetTokenInfo(slot);
      const value = (this.s.tokenLabel !== undefined ? t.label : t.serialNumber).trim();
      seen.push(value);
      if (value === want) return slot;
    }
    throw new OpencesError('unavailable', `${setting}: no token "${want}" in ${this.s.module} (present: ${seen.length ? seen.map((x) => `"${x}"`).join(', ') : 'none'})`);
  }

  private closeQuietly(s: Session): void {
    try {
      this.p.C_CloseSession(s);
    } catch {
      // already gone
    }
  }

  /**
   * For /readyz: null when a pooled session is still logged in to the token (after re-login if
   * it had to), else why not. Probes with C_GetSessionInfo, which costs the token nothing.
   */
  async health(): Promise<string | null> {
    try {
      await this.withSession('probe', (s) => {
        const info = this.p.C_GetSessionInfo(s);
        if (info.state !== CKS_RW_USER_FUNCTIONS && info.state !== CKS_RO_USER_FUNCTIONS) throw new Error('CKR_USER_NOT_LOGGED_IN');
      });
      return null;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  }

  close(): void {
    for (const s of this.all) this.closeQuietly(s);
    this.all = [];
    this.idle = [];
    try {
      this.p.C_Finalize();
    } catch {
      // another user of the module in this process may have finalised it
    }
  }

  private acquire(): Promise<Session> {
    const s = this.idle.pop();
    if (s) return Promise.resolve(s);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(s: Session, generation: number): void {
    if (generation !== this.generation) return; // a session of a pool since replaced
    const w = this.waiters.shift();
    if (w) w(s);
    else this.idle.push(s);
  }

  /** Throws away the pool and builds a new one; concurrent callers share one attempt. */
  private recover(): Promise<void> {
    this.recovering ??= (async () => {
      for (const s of this.all) this.closeQuietly(s);
      this.all = [];
      this.idle = [];
      try {
        this.connect();
      } catch (first) {
        // A module in a bad state: finalise and start it again.
        try {
          this.p.C_Finalize();
        } catch {
          // not initialised
        }
        try {
          this.connect();
        } catch {
          throw first;
        }
      }
    })().finally(() => {
      this.recovering = null;
    });
    return this.recovering;
  }

  /** Runs `op` on a pooled session; on a recoverable token error, recovers and retries once. */
  private async withSession<T>(what: string, op: (s: Session) => Promise<T> | T): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.recovering) await this.recovering.catch(() => undefined);
      if (this.all.length === 0) {
        try {
          await this.recover();
        } catch (e) {
          this.lastError = e instanceof Error ? e.message : String(e);
          throw new OpencesError('unavailable', `the CA key token is unavailable (${this.lastError})`);
        }
      }
      const generation = this.generation;
      const s = await this.acquire();
      try {
        const out = await op(s);
        this.release(s, generation);
        this.lastError = null;
        return out;
      } catch (e) {
        const c = codeName(e);
        if (e instanceof OpencesError) {
          this.release(s, generation);
          throw e;
        }
        if (!RECOVERABLE.has(c) || attempt >= 1) {
          if (RECOVERABLE.has(c)) {
            this.lastError = `${what}: ${c}`;
            this.all = []; // the next call starts with a recovery
          } else this.release(s, generation);
          throw new OpencesError('unavailable', `the CA key token is unavailable (${what}: ${c})`);
        }
        try {
          if (generation === this.generation) await this.recover();
        } catch (re) {
          this.lastError = re instanceof Error ? re.message : String(re);
          this.all = [];
          throw new OpencesError('unavailable', `the CA key token is unavailable (${this.lastError})`);
        }
      }
    }
  }

  private findKey(session: Session, label: string, cls: number): Buffer | null {
    this.p.C_FindObjectsInit(session, [
      { type: this.k.CKA_CLASS, value: cls },
      { type: this.k.CKA_LABEL, value: label },
    ]);
    try {
      const found = this.p.C_FindObjects(session, 2);
      if (found.length > 1) throw new OpencesError('conflict', `ca.pkcs11: two keys labelled "${label}" in the token`);
      return found[0] ?? null;
    } finally {
      this.p.C_FindObjectsFinal(session);
    }
  }

  async exists(label: string): Promise<boolean> {
    return this.withSession('find key', (s) => this.findKey(s, label, this.k.CKO_PRIVATE_KEY) !== null);
  }

  async create(label: string, keyType: CaKeyType): Promise<CaSigner> {
    await this.withSession('generate key', async (s) => {
      if (this.findKey(s, label, this.k.CKO_PRIVATE_KEY)) throw new OpencesError('conflict', `key ${label} already exists in the token`);
      const id = randomBytes(16);
      const common = [
        { type: this.k.CKA_TOKEN, value: true },
        { type: this.k.CKA_LABEL, value: label },
        { type: this.k.CKA_ID, value: id },
      ];
      const priv = [...common, { type: this.k.CKA_PRIVATE, value: true }, { type: this.k.CKA_SENSITIVE, value: true }, { type: this.k.CKA_EXTRACTABLE, value: false }, { type: this.k.CKA_SIGN, value: true }];
      if (keyType.startsWith('RSA-')) {
        const bits = Number(keyType.slice(4));
        await this.p.C_GenerateKeyPairAsync(s, { mechanism: this.k.CKM_RSA_PKCS_KEY_PAIR_GEN },
          [...common, { type: this.k.CKA_VERIFY, value: true }, { type: this.k.CKA_MODULUS_BITS, value: bits }, { type: this.k.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) }],
          priv);
      } else {
        const curve = CURVES[keyType as 'P-256' | 'P-384'];
        await this.p.C_GenerateKeyPairAsync(s, { mechanism: this.k.CKM_EC_KEY_PAIR_GEN },
          [...common, { type: this.k.CKA_VERIFY, value: true }, { type: this.k.CKA_EC_PARAMS, value: oid(curve.oid) }],
          priv);
      }
    });
    return this.open(label);
  }

  /** Renames a key pair (CKA_LABEL of both halves): for keys whose label derives from their public key. */
  async relabel(from: string, to: string): Promise<void> {
    await this.withSession('relabel key', (s) => {
      for (const cls of [this.k.CKO_PRIVATE_KEY, this.k.CKO_PUBLIC_KEY]) {
        const h = this.findKey(s, from, cls);
        if (h) this.p.C_SetAttributeValue(s, h, [{ type: this.k.CKA_LABEL, value: to }]);
      }
    });
    this.handles.delete(from);
  }

  async open(label: string): Promise<CaSigner> {
    const { spki, keyType } = await this.withSession('open key', (s) => {
      if (!this.findKey(s, label, this.k.CKO_PRIVATE_KEY)) throw new OpencesError('unavailable', `ca.pkcs11: no private key labelled "${label}" in the token`);
      const pub = this.findKey(s, label, this.k.CKO_PUBLIC_KEY);
      if (!pub) throw new OpencesError('unavailable', `ca.pkcs11: no public key labelled "${label}" in the token`);
      return this.publicKeyOf(s, pub);
    });
    return new Pkcs11Signer(this, label, keyType, spki, this.s.rsaPadding ?? 'pkcs1');
  }

  private publicKeyOf(s: Session, handle: Buffer): { spki: Uint8Array; keyType: CaKeyType } {
    const [kt] = this.p.C_GetAttributeValue(s, handle, [{ type: this.k.CKA_KEY_TYPE }]);
    const type = (kt!.value as Buffer).readUInt32LE(0); // CK_ULONG, little-endian on our platforms
    if (type === this.k.CKK_RSA) {
      const [n, e] = this.p.C_GetAttributeValue(s, handle, [{ type: this.k.CKA_MODULUS }, { type: this.k.CKA_PUBLIC_EXPONENT }]);
      const key = createPublicKey({ key: { kty: 'RSA', n: (n!.value as Buffer).toString('base64url'), e: (e!.value as Buffer).toString('base64url') }, format: 'jwk' });
      const bits = key.asymmetricKeyDetails?.modulusLength;
      if (bits !== 2048 && bits !== 3072 && bits !== 4096) throw new OpencesError('unavailable', `ca.pkcs11: unsupported RSA key size ${String(bits)}`);
      return { spki: new Uint8Array(key.export({ type: 'spki', format: 'der' })), keyType: `RSA-${bits}` };
    }
    if (type === this.k.CKK_EC) {
      const [params, point] = this.p.C_GetAttributeValue(s, handle, [{ type: this.k.CKA_EC_PARAMS }, { type: this.k.CKA_EC_POINT }]);
      const p = params!.value as Buffer;
      const name = (Object.keys(CURVES) as Array<'P-256' | 'P-384'>).find((c) => oid(CURVES[c].oid).equals(p));
      if (!name) throw new OpencesError('unavailable', 'ca.pkcs11: unsupported EC curve in the token');
      // CKA_EC_POINT is DER OCTET STRING(point); some modules give the bare point.
      let q = point!.value as Buffer;
      if (q[0] === 0x04 && q.length !== 1 + 2 * CURVES[name].size) {
        const h = readTlv(q, 0);
        q = q.subarray(h.header, h.header + h.length);
      }
      const spki = seq(seq(oid('1.2.840.10045.2.1'), oid(CURVES[name].oid)), Buffer.concat([Buffer.from([0x03, ...derLength(q.length + 1), 0]), q]));
      return { spki: new Uint8Array(createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' })), keyType: name };
    }
    throw new OpencesError('unavailable', 'ca.pkcs11: unsupported key type in the token');
  }

  /** Signs a digest with the private key `label` (handle looked up per pool generation). */
  async signDigest(label: string, keyType: CaKeyType, hash: 'sha256' | 'sha384', digest: Buffer, padding: 'pkcs1' | 'pss'): Promise<Buffer> {
    return this.withSession('sign', async (s) => {
      const key = this.keyHandle(s, label);
      if (keyType.startsWith('RSA-')) {
        const bytes = Number(keyType.slice(4)) / 8;
        if (padding === 'pss') {
          this.p.C_SignInit(s, {
            mechanism: this.k.CKM_RSA_PKCS_PSS,
            parameter: { type: this.k.CK_PARAMS_RSA_PSS, hashAlg: hash === 'sha256' ? this.k.CKM_SHA256 : this.k.CKM_SHA384, mgf: hash === 'sha256' ? this.k.CKG_MGF1_SHA256 : this.k.CKG_MGF1_SHA384, saltLen: digest.length },
          } as Pkcs11Types.Mechanism, key);
        } else this.p.C_SignInit(s, { mechanism: this.k.CKM_RSA_PKCS }, key);
        const data = padding === 'pss' ? digest : Buffer.concat([DIGEST_INFO[hash]!, digest]);
        const out = Buffer.alloc(bytes);
        const sig = Buffer.from(await this.p.C_SignAsync(s, data, out));
        return sig;
      }
      const size = CURVES[keyType as 'P-256' | 'P-384'].size;
      this.p.C_SignInit(s, { mechanism: this.k.CKM_ECDSA }, key);
      const out = Buffer.alloc(2 * size);
      const raw = Buffer.from(await this.p.C_SignAsync(s, digest, out));
      if (raw.length !== 2 * size) throw new OpencesError('internal', `ca.pkcs11: ECDSA signature of ${raw.length} bytes`);
      return seq(integerFromBytes(raw.subarray(0, size)), integerFromBytes(raw.subarray(size)));
    });
  }

  private handles = new Map<string, { generation: number; handle: Buffer }>();

  private keyHandle(s: Session, label: string): Buffer {
    const h = this.handles.get(label);
    if (h && h.generation === this.generation) return h.handle;
    const handle = this.findKey(s, label, this.k.CKO_PRIVATE_KEY);
    if (!handle) throw new OpencesError('unavailable', `ca.pkcs11: no private key labelled "${label}" in the token`);
    this.handles.set(label, { generation: this.generation, handle });
    return handle;
  }
}

function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  if (n < 0x100) return [0x81, n];
  return [0x82, n >> 8, n & 0xff];
}

/** RSASSA-PSS AlgorithmIdentifier (RFC 4055) with MGF1 over the same hash and salt = hash length. */
export function pssAlgorithm(hash: 'sha256' | 'sha384'): Buffer {
  const h = hash === 'sha256' ? '2.16.840.1.101.3.4.2.1' : '2.16.840.1.101.3.4.2.2';
  const hashAlg = seq(oid(h), nullValue());
  const tag = (n: number, inner: Uint8Array): Buffer => Buffer.concat([Buffer.from([0xa0 | n, ...derLength(inner.length)]), inner]);
  return seq(oid('1.2.840.113549.1.1.10'), seq(tag(0, hashAlg), tag(1, seq(oid('1.2.840.113549.1.1.8'), hashAlg)), tag(2, integerFromBytes(Buffer.from([hash === 'sha256' ? 32 : 48])))));
}

class Pkcs11Signer implements CaSigner {
  readonly signatureAlgorithm: Uint8Array;
  private readonly hash: 'sha256' | 'sha384';
  private readonly padding: 'pkcs1' | 'pss';

  constructor(
    private readonly store: Pkcs11KeyStore,
    private readonly label: string,
    readonly keyType: CaKeyType,
    readonly spki: Uint8Array,
    padding: 'pkcs1' | 'pss',
  ) {
    const alg = signatureAlgorithmFor(keyType);
    this.hash = alg.hash as 'sha256' | 'sha384';
    this.padding = keyType.startsWith('RSA-') ? padding : 'pkcs1';
    this.signatureAlgorithm = this.padding === 'pss' ? pssAlgorithm(this.hash) : alg.der;
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    const digest = createHash(this.hash).update(data).digest();
    return new Uint8Array(await this.store.signDigest(this.label, this.keyType, this.hash, digest, this.padding));
  }
}
