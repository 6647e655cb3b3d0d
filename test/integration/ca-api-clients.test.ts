import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { runCli } from '../helpers/cli.js';
import { tmp } from '../helpers/openssl.js';
import { urlWithSchema } from '../helpers/db.js';

/**
 * The CA signing API admits only the enrollment nodes it is told about. A CA client certificate
 * made the proper way (`opences ca client-cert issue`, recorded, not revoked, client-auth EKU)
 * whose subject is not in `ca.clients.allowedSubjects` is still no credential: a stolen or
 * over-issued client certificate for another node name must not open the signing API.
 */
describe('CA signing API: ca.clients.allowedSubjects', () => {
  let s: TestServer;
  let apiPort: number;
  const dir = tmp('opences-caclients-');
  const files = (n: string) => ({ cert: join(dir, `${n}.crt`), key: join(dir, `${n}.key`) });

  beforeAll(async () => {
    apiPort = await freePort();
    s = await startTestServer({ config: { 'ca.apiPort': apiPort, 'ca.clients.allowedSubjects': ['CN=ces-listed,O=opences test'] } });
    for (const [name, subject] of [['listed', 'CN=ces-listed,O=opences test'], ['unlisted', 'CN=ces-unlisted,O=opences test']] as const) {
      const f = files(name);
      const r = await runCli(['ca', 'client-cert', 'issue', '--subject', subject, '--cert-out', f.cert, '--key-out', f.key, '--data-dir', s.dataDir, '--database-url', urlWithSchema(s.db!.schema)]);
      expect(r.code, r.err).toBe(0);
    }
  });
  afterAll(async () => s?.stop());

  const call = async (name: string) => {
    const f = files(name);
    const agent = new Agent({ connect: { ca: s.rootPem, cert: readFileSync(f.cert, 'utf8'), key: readFileSync(f.key, 'utf8'), servername: 'localhost' } });
    try {
      const r = await request(`https://localhost:${apiPort}/ca/v1/features`, { dispatcher: agent });
      return { status: r.statusCode, body: await r.body.text() };
    } finally {
      await agent.close();
    }
  };

  it('answers the listed node', async () => {
    const r = await call('listed');
    expect(r.status, r.body).toBe(200);
  });

  it('refuses a recorded, unrevoked CA client certificate whose subject is not listed, and audits it', async () => {
    const r = await call('unlisted');
    expect(r.status, r.body).toBe(403);
    const reasons = (await s.core.audit.list({ type: 'auth.failure' })).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining([expect.stringMatching(/CN=ces-unlisted.*is not in ca\.clients\.allowedSubjects/)]));
  });
});
