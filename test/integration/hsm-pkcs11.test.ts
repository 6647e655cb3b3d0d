import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import type * as Pkcs11Types from 'pkcs11js';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { freshTestDb, urlWithSchema } from '../helpers/db.js';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/app/serve.js';
import { createLogger } from '../../src/log.js';
import { openssl, opensslStatus, tmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath } from '../../src/http/endpoints.js';
import { runCli } from '../helpers/cli.js';
import { SOFTHSM_MODULE, softHsm, softhsmAvailable, type SoftHsm } from '../helpers/softhsm.js';

const require = createRequire(import.meta.url);

/** Every file under `dir` whose bytes contain `needle` (what `grep -rl` would list). */
function filesContaining(dir: string, needle: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath, e.name);
    if (readFileSync(p).includes(needle)) out.push(p);
  }
  return out;
}

/** A TLS certificate for localhost made outside the data directory (its key is not a CA key). */
function tlsFiles(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-days', '2']);
  return { cert, key };
}

// One token for the file: the module reads SOFTHSM2_CONF once per process (C_Initialize).
let hsm: SoftHsm;
beforeAll(() => {
  if (softhsmAvailable) hsm = softHsm();
});
afterAll(() => hsm?.cleanup());

describe('SoftHSM2 for the tests below', () => {
  it('is installed: required under CI (.ci/run installs Debian softhsm2); elsewhere they report a skip', (ctx) => {
    const required = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
    if (required) expect(softhsmAvailable, 'the Debian package softhsm2 is required under CI').toBe(true);
    if (!softhsmAvailable) ctx.skip('softhsm2 is not installed (Debian package softhsm2): the PKCS#11 tests are skipped');
  });
});

describe.skipIf(!softhsmAvailable)('a start with a broken PKCS#11 setting stops, naming the setting', { timeout: 120_000 }, () => {
  const start = async (pkcs11: Record<string, unknown>, env: Record<string, string> = {}) => {
    const db = await freshTestDb();
    const dataDir = tmp('opences-hsm-refused-');
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const config = loadConfig({
        env: {},
        flags: { dataDir, port: await freePort(), pkiPort: await freePort(), host: '127.0.0.1', hostname: 'localhost', logLevel: 'silent', databaseAllowExcessPrivileges: true, databaseUrl: urlWithSchema(db.schema), 'ca.keyStore': 'pkcs11', 'ca.pkcs11': pkcs11 },
      });
      const s = await startServer(config, { log: createLogger('silent') });
      await s.close();
      return null;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    } finally {
      process.env = saved;
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  };

  it('a wrong PIN (from the PIN file) names ca.pkcs11.pinFile', async () => {
    const wrong = join(hsm.dir, 'wrong.pin');
    writeFileSync(wrong, '0000-0000\n', { mode: 0o600 });
    expect(await start({ module: SOFTHSM_MODULE, tokenLabel: hsm.label, pinFile: wrong })).toMatch(/^ca\.pkcs11\.pinFile: the token refused the PIN \(CKR_PIN_INCORRECT\)/);
  });

  it('a wrong PIN from the environment names OPENCES_PKCS11_PIN, and no PIN at all names the setting', async () => {
    expect(await start({ module: SOFTHSM_MODULE, tokenLabel: hsm.label }, { OPENCES_PKCS11_PIN: '1111-2222' })).toMatch(/^OPENCES_PKCS11_PIN: the token refused the PIN/);
    expect(await start({ module: SOFTHSM_MODULE, tokenLabel: hsm.label })).toMatch(/^ca\.pkcs11\.pinFile: no PIN for the token/);
  });

  it('a missing token names ca.pkcs11.tokenLabel (and tokenSerial) and lists the tokens present', async () => {
    expect(await start({ module: SOFTHSM_MODULE, tokenLabel: 'no-such-token', pinFile: hsm.pinFile })).toMatch(new RegExp(`^ca\\.pkcs11\\.tokenLabel: no token "no-such-token" in .* \\(present: [^)]*"${hsm.label}"`));
    expect(await start({ module: SOFTHSM_MODULE, tokenSerial: '0000000000000000', pinFile: hsm.pinFile })).toMatch(/^ca\.pkcs11\.tokenSerial: no token "0000000000000000"/);
  });

  it('a missing module names ca.pkcs11.module', async () => {
    expect(await start({ module: join(hsm.dir, 'libmissing-pkcs11.so'), tokenLabel: hsm.label, pinFile: hsm.pinFile })).toMatch(/^ca\.pkcs11\.module: cannot load the PKCS#11 module .*libmissing-pkcs11\.so/);
  });
});

describe.skipIf(!softhsmAvailable)('CA keys in a PKCS#11 token (SoftHSM2)', { timeout: 240_000 }, () => {
  let s: TestServer;
  const dir = tmp('opences-hsm-');
  const pw = join(dir, 'alice.pw');
  let tls: { cert: string; key: string };
  const pkcs11 = () => ({ module: SOFTHSM_MODULE, tokenLabel: hsm.label, pinFile: hsm.pinFile, sessions: 2 });

  beforeAll(async () => {
    tls = tlsFiles(dir);
    s = await startTestServer({ config: { 'ca.keyStore': 'pkcs11', 'ca.pkcs11': pkcs11(), 'ca.keyType': 'P-256', 'tls.certFile': tls.cert, 'tls.keyFile': tls.key } });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret' }, 'test');
    writeFileSync(pw, 'S3cret\n');
  });
  afterAll(async () => {
    await s?.stop();
    execFileSync('rm', ['-rf', dir]);
  });

  const enroll = (name: string) => {
    const key = join(dir, `${name}.key`);
    const cert = join(dir, `${name}.crt`);
    return {
      cert,
      run: () =>
        runCli(['req', 'enroll', '--url', `${s.url}${cepPath('UsernamePassword')}`, '--username', 'alice', '--password-file', pw, '--ca-bundle', tls.cert,
          '--template', 'WebServer', '--subject', `CN=${name}.example.test`, '--san', `dns:${name}.example.test`, '--key-out', key, '--cert-out', cert]),
    };
  };

  /** This process's own handle on the module (the server's store shares the loaded library). */
  const module = () => {
    const lib = require('pkcs11js') as typeof Pkcs11Types;
    const p = new lib.PKCS11();
    p.load(SOFTHSM_MODULE);
    try {
      p.C_Initialize();
    } catch {
      // the server initialised the module in this process already
    }
    const slot = p.C_GetSlotList(true).find((x) => p.C_GetTokenInfo(x).label.trim() === hsm.label)!;
    return { lib, p, slot };
  };
  const readyz = async () => {
    const r = await request(`${s.url}/readyz`, { dispatcher: new Agent({ connect: { ca: readFileSync(tls.cert) } }) });
    return { status: r.statusCode, body: (await r.body.json()) as Record<string, unknown> };
  };

  it('generated the CA keys inside the token as sensitive, non-extractable objects, and nothing key-related in the data directory', async () => {
    const { lib, p, slot } = module();
    const session = p.C_OpenSession(slot, lib.CKF_SERIAL_SESSION);
    try {
      p.C_Login(session, lib.CKU_USER, hsm.pin);
    } catch {
      // the login is per application: the server's sessions already hold it
    }
    p.C_FindObjectsInit(session, [{ type: lib.CKA_CLASS, value: lib.CKO_PRIVATE_KEY }]);
    const keys = p.C_FindObjects(session, 20);
    p.C_FindObjectsFinal(session);
    const attrs = keys.map((k) => {
      const [label, sensitive, extractable] = p.C_GetAttributeValue(session, k, [{ type: lib.CKA_LABEL }, { type: lib.CKA_SENSITIVE }, { type: lib.CKA_EXTRACTABLE }]);
      return { label: (label!.value as Buffer).toString(), sensitive: (sensitive!.value as Buffer)[0], extractable: (extractable!.value as Buffer)[0] };
    });
    p.C_CloseSession(session);
    expect(attrs.map((a) => a.label.replace(/-[0-9a-f]+$/, '')).sort()).toEqual(['audit-signing', 'issuing-ca', 'root-ca']);
    for (const a of attrs) expect(a, a.label).toMatchObject({ sensitive: 1, extractable: 0 });
    expect(filesContaining(s.dataDir, 'PRIVATE KEY')).toEqual([]);
    expect(await readyz()).toMatchObject({ status: 200, body: { caKey: 'ok' } });
  });

  it('issues through CES with the token key: openssl verifies the certificate and the CRL', async () => {
    const e = enroll('www');
    const r = await e.run();
    expect(r.code, r.err).toBe(0);
    const v = opensslStatus(['verify', '-CAfile', join(s.dataDir, 'certs/root_ca.crt'), '-untrusted', join(s.dataDir, 'certs/issuing_ca.crt'), e.cert]);
    expect(v.code, v.out).toBe(0);
    const crl = await request(`${s.pkiUrl}/pki/opences_Issuing_CA.crl`);
    expect(crl.statusCode).toBe(200);
    const crlFile = join(dir, 'issuing.crl');
    writeFileSync(crlFile, Buffer.from(await crl.body.arrayBuffer()));
    const c = opensslStatus(['crl', '-inform', 'DER', '-in', crlFile, '-CAfile', join(s.dataDir, 'certs/ca_chain.crt'), '-noout']);
    expect(c.code, c.out).toBe(0);
    expect(c.out).toMatch(/verify OK/);
    expect(filesContaining(s.dataDir, 'PRIVATE KEY')).toEqual([]);
  });

  it('survives the token dropping its sessions, fails cleanly while the token is gone, and issues again once it is back', async () => {
    const { p, slot } = module();
    // Another user of the module closes every session (and with them the login) under the server.
    p.C_CloseAllSessions(slot);
    const afterClose = enroll('after-close');
    const r1 = await afterClose.run();
    expect(r1.code, r1.err).toBe(0);
    expect((await readyz()).status).toBe(200);

    // The token goes away (its storage disappears), and the sessions with it.
    const away = `${hsm.tokenDir}.away`;
    renameSync(hsm.tokenDir, away);
    p.C_CloseAllSessions(slot);
    const gone = enroll('while-gone');
    const r2 = await gone.run();
    // CES answers as ADCS does when its CA cannot sign (RPC_S_SERVER_UNAVAILABLE), naming the token.
    expect(r2.code, r2.err + r2.out).not.toBe(0);
    expect(r2.err + r2.out).toMatch(/the CA key token is unavailable/);
    expect(() => statSync(gone.cert)).toThrow();
    expect(await readyz()).toMatchObject({ status: 503, body: { caKey: 'unavailable' } });

    renameSync(away, hsm.tokenDir);
    const back = enroll('back');
    await expect.poll(async () => (await readyz()).status, { timeout: 30_000 }).toBe(200);
    const r3 = await back.run();
    expect(r3.code, r3.err).toBe(0);
    expect(opensslStatus(['verify', '-CAfile', join(s.dataDir, 'certs/root_ca.crt'), '-untrusted', join(s.dataDir, 'certs/issuing_ca.crt'), back.cert]).code).toBe(0);
  });
});
