import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:https';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { opensslStatus, tmp, writeTmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { runCli } from '../helpers/cli.js';


const cli = (args: string[]) => runCli(args);

// Each test runs the CLI several times as separate processes: give a loaded machine room.
describe('opences req against a real server, through a proxy that records what the server receives', { timeout: 180_000 }, () => {
  let s: TestServer;
  let proxy: Server;
  let base: string;
  const seen: string[] = [];
  const dir = tmp('opences-req-');
  const pw = join(dir, 'alice.pw');
  const bobPw = join(dir, 'bob.pw');

  beforeAll(async () => {
    const proxyPort = await freePort();
    base = `https://localhost:${proxyPort}`;
    s = await startTestServer({ config: { publicUrl: base } });
    await runOperation(s.core, 'user.add', { name: 'alice', password: 'S3cret' }, 'test');
    await runOperation(s.core, 'user.add', { name: 'bob', password: 'B0b-pass' }, 'test');
    writeFileSync(pw, 'S3cret\n');
    writeFileSync(bobPw, 'B0b-pass\n');
    const upstream = new Agent({ connect: { ca: s.rootPem } });
    proxy = createServer({ cert: readFileSync(join(s.dataDir, 'certs/tls.crt')), key: readFileSync(join(s.dataDir, 'secrets/tls.key')) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const body = Buffer.concat(chunks);
        seen.push(body.toString('latin1'));
        const r = await request(`${s.url}${req.url}`, { method: req.method as 'POST', body, headers: { 'content-type': req.headers['content-type'] ?? 'application/soap+xml' }, dispatcher: upstream });
        res.writeHead(r.statusCode, { 'content-type': String(r.headers['content-type'] ?? '') });
        res.end(Buffer.from(await r.body.arrayBuffer()));
      });
    });
    await new Promise<void>((r) => proxy.listen(proxyPort, '127.0.0.1', r));
  });
  afterAll(async () => {
    proxy?.close();
    await s?.stop();
  });

  const auth = () => ['--username', 'alice', '--password-file', pw, '--ca-bundle', join(s.dataDir, 'certs/root_ca.crt')];
  const cep = () => `${base}${cepPath('UsernamePassword')}`;
  const ces = () => `${base}${cesPath('opences Issuing CA', 'UsernamePassword')}`;

  it('lists the templates (req policy)', async () => {
    const r = await cli(['req', 'policy', '--url', cep(), ...auth(), '--json']);
    expect(r.code, r.err).toBe(0);
    expect((JSON.parse(r.out) as { name: string }[]).map((t) => t.name).sort()).toEqual(['Machine', 'User', 'WebServer', 'WebServerApproval']);
  });

  it('enrolls in one step; the key is 0600 and never appears in anything the server received', async () => {
    const key = join(dir, 'web.key');
    const cert = join(dir, 'web.crt');
    const r = await cli(['req', 'enroll', '--url', cep(), ...auth(), '--template', 'WebServer', '--subject', 'CN=www.example.test', '--san', 'dns:www.example.test', '--key-type', 'RSA-2048', '--key-out', key, '--cert-out', cert]);
    expect(r.code, r.err).toBe(0);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const v = opensslStatus(['verify', '-CAfile', join(s.dataDir, 'certs/root_ca.crt'), '-untrusted', join(s.dataDir, 'certs/issuing_ca.crt'), cert]);
    expect(v.code, v.out).toBe(0);
    const keyB64 = readFileSync(key, 'utf8').replace(/-----[^-]+-----|\s/g, '');
    const keyDer = Buffer.from(keyB64, 'base64');
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (const body of seen) {
      expect(body).not.toContain(keyB64.slice(0, 64));
      expect(body.includes(keyDer.subarray(40, 80).toString('latin1'))).toBe(false);
      expect(body).not.toContain(keyDer.subarray(40, 80).toString('base64'));
    }
  });

  it('new → submit (pending, exit 3) → approve → retrieve → accept', async () => {
    const key = join(dir, 'p.key');
    const csr = join(dir, 'p.csr');
    const made = await cli(['req', 'new', '--template', 'WebServerApproval', '--subject', 'CN=pending.example.test', '--san', 'dns:pending.example.test', '--key-out', key, '--csr-out', csr]);
    expect(made.code, made.err).toBe(0);
    expect(opensslStatus(['req', '-in', csr, '-noout', '-verify']).out).toMatch(/verify OK|Certificate request self-signature verify OK/);
    const sub = await cli(['req', 'submit', '--url', ces(), ...auth(), csr, '--json']);
    expect(sub.code, sub.err).toBe(3);
    const { requestId } = JSON.parse(sub.out) as { requestId: string };
    const early = await cli(['req', 'retrieve', '--url', ces(), ...auth(), requestId]);
    expect(early.code).toBe(3);
    // someone else cannot retrieve it
    const bob = await cli(['req', 'retrieve', '--url', ces(), '--username', 'bob', '--password-file', bobPw, '--ca-bundle', join(s.dataDir, 'certs/root_ca.crt'), requestId]);
    expect(bob.code).toBe(2);
    expect(bob.err).toContain(`no request ${requestId} for this caller`);
    await runOperation(s.core, 'request.approve', { id: requestId }, 'local:manager');
    const cert = join(dir, 'p.crt');
    const got = await cli(['req', 'retrieve', '--url', ces(), ...auth(), requestId, '--cert-out', cert]);
    expect(got.code, got.err).toBe(0);
    const acc = await cli(['req', 'accept', cert, '--key', key]);
    expect(acc.code, acc.err).toBe(0);
    // a certificate for another key is refused
    const otherKey = join(dir, 'other.key');
    await cli(['req', 'new', '--key-out', otherKey, '--csr-out', join(dir, 'other.csr')]);
    const wrong = await cli(['req', 'accept', cert, '--key', otherKey]);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain('is for another key');
  });

  it('writes CMC requests and encrypted keys on request', async () => {
    const key = join(dir, 'cmc.key');
    const req = join(dir, 'cmc.req');
    const pass = writeTmp(dir, 'key.pass', 'correct horse battery\n');
    const made = await cli(['req', 'new', '--template', 'WebServer', '--subject', 'CN=cmc.example.test', '--san', 'dns:cmc.example.test', '--format', 'cmc', '--key-passphrase-file', pass, '--key-out', key, '--csr-out', req]);
    expect(made.code, made.err).toBe(0);
    expect(readFileSync(key, 'utf8')).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    expect(readFileSync(req, 'utf8')).toContain('BEGIN CMC');
    const cert = join(dir, 'cmc.crt');
    const sub = await cli(['req', 'submit', '--url', ces(), ...auth(), req, '--cert-out', cert]);
    expect(sub.code, sub.err).toBe(0);
    expect((await cli(['req', 'accept', cert, '--key', key, '--key-passphrase-file', pass])).code).toBe(0);
    const noPass = await cli(['req', 'accept', cert, '--key', key]);
    expect(noPass.code).toBe(1);
    expect(noPass.err).toContain('is encrypted');
  });

  it('exits 2 with the reason on a denial, and 1 on bad credentials', async () => {
    const key = join(dir, 'weak.key');
    const csr = join(dir, 'weak.csr');
    await cli(['req', 'new', '--template', 'Nope', '--subject', 'CN=x.example.test', '--key-out', key, '--csr-out', csr]);
    const d = await cli(['req', 'submit', '--url', ces(), ...auth(), csr]);
    expect(d.code).toBe(2);
    expect(d.err).toMatch(/denied \(request \d+\): the request names the template "Nope"/);
    writeFileSync(join(dir, 'bad.pw'), 'wrong\n');
    const bad = await cli(['req', 'policy', '--url', cep(), '--username', 'alice', '--password-file', join(dir, 'bad.pw'), '--ca-bundle', join(s.dataDir, 'certs/root_ca.crt')]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('refused the credentials');
  });
});
