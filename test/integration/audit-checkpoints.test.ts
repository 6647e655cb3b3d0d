import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate, createHash, createPublicKey, sign } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { runCli } from '../helpers/cli.js';
import { tmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { AUDIT_SIGNING_EKU, statement, toJson, type Checkpoint } from '../../src/audit/checkpoint.js';
import { newKeyAndRequest } from '../../src/ca/local-request.js';
import { LocalCa } from '../../src/ca/engine.js';
import { saveSigner, insertCheckpoint } from '../../src/store/audit-checkpoint-repo.js';
import { rowsAfter } from '../../src/store/audit-repo.js';

interface Report {
  ok: boolean;
  count: number;
  firstBrokenSeq?: number;
  reason?: string;
  missing?: { from: number; to: number };
  checkpoint: { seq: number; source: string } | null;
}

describe('signed audit checkpoints (truncation of the audit log is detectable)', () => {
  let s: TestServer;
  const verify = async (args: Record<string, unknown> = {}): Promise<Report> => (await runOperation(s.core, 'audit.verify', args, 'test')) as Report;
  const sink = (): string => join(s.dataDir, 'audit', 'checkpoints.jsonl');
  const events = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await s.core.audit.record({ type: 'test.event', outcome: 'info', reason: `event ${i}` });
  };

  beforeAll(async () => {
    // everySeconds high: only the event count and explicit `now()` make checkpoints in this test.
    s = await startTestServer({ config: { audit: { checkpoints: { everyEvents: 5, everySeconds: 3600 } } } });
  }, 180_000);
  afterAll(async () => s?.stop());

  it('keeps a dedicated audit signing key beside the CA keys, certified by the issuing CA for audit signing only', async () => {
    const keyFile = join(s.dataDir, 'secrets', 'audit_signing.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(readFileSync(join(s.dataDir, 'certs', 'audit_signing.crt')));
    const issuing = new X509Certificate(readFileSync(join(s.dataDir, 'certs', 'issuing_ca.crt')));
    expect(cert.checkIssued(issuing) && cert.verify(issuing.publicKey)).toBe(true);
    expect(cert.keyUsage).toEqual([AUDIT_SIGNING_EKU]);
    // Not the CA key.
    expect(cert.publicKey.export({ type: 'spki', format: 'der' }).equals(issuing.publicKey.export({ type: 'spki', format: 'der' }))).toBe(false);
    expect(createPublicKey(readFileSync(keyFile, 'utf8')).export({ type: 'spki', format: 'der' }).equals(cert.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
  });

  it('signs a checkpoint after N events, stores it, appends it to the file sink and publishes it on /pki/', async () => {
    await events(6);
    const before = (await s.core.audit.head())!;
    const c = await s.checkpointer!.now();
    expect(c).not.toBeNull();
    // The checkpoint covers at least every event recorded before it was asked for (the server's own
    // background events, a CRL publication say, may land just before it), and names that event's hash.
    expect(c!.seq).toBeGreaterThanOrEqual(before.seq);
    const [atCheckpoint] = await rowsAfter(s.core.db, c!.seq - 1, 1);
    expect(c!.hash).toBe(atCheckpoint!.hash);
    const head = { seq: c!.seq, hash: c!.hash };
    const lines = readFileSync(sink(), 'utf8').trim().split('\n');
    expect(JSON.parse(lines[lines.length - 1]!)).toMatchObject({ seq: head.seq, hash: head.hash });
    const r = await request(`${s.pkiUrl}/pki/audit/checkpoint.json`);
    expect(r.statusCode).toBe(200);
    expect(await r.body.json()).toMatchObject({ seq: head.seq, hash: head.hash });
    const v = await verify();
    expect(v).toMatchObject({ ok: true, checkpoint: { seq: head.seq } });
    expect(v.count).toBeGreaterThanOrEqual(head.seq);
    // And to auditors on the admin API.
    // A token names a principal that resolves (issue #16): the auditor's own account.
    await runOperation(s.core, 'user.add', { name: 'audrey', password: 'Aud-r3y-pass' }, 'test');
    const { token } = (await runOperation(s.core, 'token.create', { role: 'auditor', principal: 'audrey' }, 'test')) as { token: string };
    const agent = new Agent({ connect: { ca: s.rootPem } });
    const api = await request(`${s.url}/api/v1/audit/checkpoint`, { dispatcher: agent, headers: { authorization: `Bearer ${token}` } });
    expect(api.statusCode).toBe(200);
    expect(await api.body.json()).toMatchObject({ seq: head.seq, hash: head.hash, signer: c!.signer });
    await agent.close();
  });

  it('reports the newest events removed together with their checkpoint rows, by sequence number', async () => {
    await events(3);
    await s.checkpointer!.now();
    const head = (await s.core.audit.head())!;
    const kept = tmp('opences-cp-');
    const copy = join(kept, 'cp.jsonl');
    copyFileSync(sink(), copy);
    expect((await verify()).ok).toBe(true);

    // The attacker with the database: the newest three events and every checkpoint that names them.
    await s.core.db.query('DELETE FROM audit_events WHERE seq > $1', [head.seq - 3]);
    await s.core.db.query('DELETE FROM audit_checkpoints WHERE seq > $1', [head.seq - 3]);
    // The chain alone still looks whole.
    expect(await s.core.audit.verify()).toEqual({ ok: true, count: head.seq - 3 });

    const v = await verify();
    expect(v).toMatchObject({ ok: false, firstBrokenSeq: head.seq - 2, missing: { from: head.seq - 2, to: head.seq } });
    expect(v.reason).toContain(`events ${head.seq - 2}–${head.seq} are missing`);

    // The file sink gone too: a copy kept elsewhere still tells (through the CLI and the control socket).
    rmSync(sink());
    const cli = await runCli(['audit', 'verify', '--data-dir', s.dataDir, '--checkpoint', copy]);
    expect(cli.code).toBe(1);
    expect(cli.out).toContain(`events ${head.seq - 2}–${head.seq} are missing`);
    rmSync(kept, { recursive: true, force: true });

    // The checkpointer notices too and signs nothing that would bless the shortened log.
    await events(6);
    await s.checkpointer!.now();
    const newest = await s.core.db.query<{ seq: string }>('SELECT max(seq)::text AS seq FROM audit_checkpoints');
    expect(Number(newest.rows[0]!.seq)).toBeLessThanOrEqual(head.seq - 3);
    expect(existsSync(sink())).toBe(false);
  });

  it('refuses a checkpoint signed with any other certificate from our CA, and the CA refuses the audit EKU to templates', async () => {
    const ca = s.core.ca as LocalCa;
    // An enrollee's certificate (WebServer) and its key.
    const { privateKey, csrDer, requestId, at } = await newKeyAndRequest(s.core, { commonName: 'mallory', requester: 'mallory', authMethod: 'password', template: 'WebServer' });
    const order = { orderId: requestId, template: 'WebServer', csrDer, subject: [{ type: 'CN' as const, value: 'mallory' }], sans: [], keyUsage: ['digitalSignature' as const, 'keyEncipherment' as const], keyUsageCritical: true, issuancePolicies: [], notBefore: at, notAfter: new Date(at.getTime() + 86400_000), requester: 'mallory' };
    await expect(ca.issue({ ...order, ekus: [AUDIT_SIGNING_EKU] })).rejects.toMatchObject({ kind: 'forbidden' });
    const issued = await ca.issue({ ...order, ekus: ['1.3.6.1.5.5.7.3.1'] });
    const head = (await s.core.audit.head())!;
    const fp = createHash('sha256').update(issued.der).digest('hex');
    const forged: Checkpoint = { seq: head.seq, hash: head.hash, at: new Date(), signer: fp, signature: '', certificate: issued.der };
    forged.signature = sign('sha256', statement(forged), { key: privateKey, dsaEncoding: 'der' }).toString('base64');
    await saveSigner(s.core.db, fp, issued.der);
    await insertCheckpoint(s.core.db, forged);
    const v = await verify();
    expect(v.ok).toBe(false);
    expect(v.reason).toContain('cannot be trusted: its signer certificate is not an audit signing certificate');
    await s.core.db.query('DELETE FROM audit_checkpoints WHERE signer = $1', [fp]);

    // The audit signing certificate named, but signed with another key: refused too.
    const auditCert = new Uint8Array(new X509Certificate(readFileSync(join(s.dataDir, 'certs', 'audit_signing.crt'))).raw);
    const posing: Checkpoint = { ...forged, signer: createHash('sha256').update(auditCert).digest('hex'), certificate: auditCert };
    posing.signature = sign('sha256', statement(posing), { key: privateKey, dsaEncoding: 'der' }).toString('base64');
    const bad = await verify({ checkpoint: toJson(posing), checkpointName: 'kept.json' });
    expect(bad.reason).toContain('the checkpoint from kept.json');
    expect(bad.reason).toContain('its signature does not verify');
  });
});
