import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { tmp } from '../helpers/openssl.js';
import { cliAsync } from '../helpers/topology.js';
import { runOperation } from '../../src/ops/operations.js';

/**
 * Issue 17, item 5: `opences ca client-cert issue` on a data directory whose server holds the
 * embedded database goes through the server's control socket, so the server records the
 * certificate and its CA API accepts it (signed by a second copy of the database, it was refused
 * with 403 on every use). The private key never reaches the server.
 */
describe('opences ca client-cert issue against a running server on the embedded database', () => {
  let s: TestServer;
  const out = tmp('opences-cc-');

  beforeAll(async () => {
    s = await startTestServer({ embedded: true, config: { 'ca.apiPort': await freePort(), 'ca.clients': { allowedSubjects: ['CN=ops-node,O=opences test'] } } });
  }, 120_000);
  afterAll(async () => s?.stop());

  it('is signed and recorded by the running server, and the certificate works on its CA API', async () => {
    const cert = join(out, 'c.crt');
    const key = join(out, 'c.key');
    const printed = JSON.parse(await cliAsync(['ca', 'client-cert', 'issue', '--subject', 'CN=ops-node,O=opences test', '--cert-out', cert, '--key-out', key, '--data-dir', s.dataDir, '--json'], { databaseUrl: '' })) as { serial: string };
    expect(statSync(key).mode & 0o777).toBe(0o600);
    // Recorded by the server (its own database), as a CA client certificate owned by the node it
    // names (a service, so the operator may revoke it), with the operator as the audit event's actor.
    const shown = (await runOperation(s.core, 'cert.show', { serial: printed.serial }, 'test')) as { template: string; requester: string };
    expect(shown).toMatchObject({ template: 'opences-ca-client', requester: 'service:ca-client:CN=ops-node,O=opences test' });
    const issued = (await s.core.audit.list({ type: 'certificate.issue' })).find((e) => e.serial === printed.serial);
    expect(issued?.actor).toMatch(/^local:/);
    expect(BigInt(`0x${new X509Certificate(readFileSync(cert)).serialNumber}`)).toBe(BigInt(`0x${printed.serial}`));
    // The private key stayed with the command: the server's database holds only the CSR's public key.
    const row = await s.core.db.query<{ raw_request: Uint8Array }>('SELECT raw_request FROM requests WHERE serial = $1', [printed.serial]);
    expect(Buffer.from(row.rows[0]!.raw_request).toString('latin1')).not.toContain('PRIVATE KEY');

    const agent = new Agent({ connect: { ca: s.rootPem, cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') } });
    try {
      const r = await request(`https://localhost:${s.config.ca.apiPort}/ca/v1/info`, { dispatcher: agent });
      expect(r.statusCode).toBe(200);
      expect(await r.body.json()).toMatchObject({ name: 'opences Issuing CA' });
    } finally {
      await agent.close();
    }
  });

  it('refuses clearly on a node that holds no CA key', async () => {
    const core = { ...s.core, ca: { info: () => s.core.ca.info() } } as unknown as typeof s.core;
    await expect(runOperation(core, 'ca.clientCert.issue', { csr: 'MAA=', subject: [{ type: 'CN', value: 'x' }] }, 'test')).rejects.toMatchObject({ kind: 'unsupported', message: expect.stringMatching(/this node has no CA key: run `opences ca client-cert issue` on the ca node/) });
  });
});
