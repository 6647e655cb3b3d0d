import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCsr } from '../../helpers/openssl.js';
import type { LocalCa } from '../../../src/ca/engine.js';
import type { IssuanceOrder } from '../../../src/ca/types.js';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { approvalDigest } from '../../../src/policy/issuance.js';
import { recordApproval } from '../../../src/store/approval-repo.js';
import { insertRequest } from '../../../src/store/request-repo.js';
import { order, setupCa, type CaFixture } from './ca-fixture.js';

/**
 * The CA engine's own checks of an order against the request recorded in the database (Boulder's
 * CA re-checking the RA): the fast path's statement and the careful path agree, and nothing is
 * recorded for a refused order.
 */
describe('the CA signs only the recorded request, in its recorded state', () => {
  let f: CaFixture;
  let ca: LocalCa;
  const templates = defaultTemplates('1.3.6.1.4.1.311.21.8.1.2').map((t) => ({ ...t, minorRevision: 5 }));

  beforeAll(async () => {
    f = await setupCa('P-256');
    ca = await f.engine({ templates: async (n) => templates.find((t) => t.name === n) ?? null });
  });
  afterAll(async () => f?.db.close());

  const request = (csrDer: Uint8Array | undefined, o: { template?: string; requester?: string; status?: 'pending' | 'denied'; pendReason?: 'approval' } = {}): Promise<string> =>
    insertRequest(f.db, {
      status: o.status ?? 'pending',
      requester: o.requester ?? 'alice',
      authMethod: 'username',
      template: o.template ?? 'WebServer',
      requestFormat: 'pkcs10',
      rawRequest: csrDer ?? new Uint8Array([0x30, 0]),
      ...(csrDer ? { csrDer } : {}),
      ...(o.pendReason ? { issuanceOrder: { template: o.template, subject: [], notBefore: '', pendReason: o.pendReason } } : {}),
      disposition: 5,
      dispositionMessage: 'Taken Under Submission',
      submittedAt: new Date(),
    });

  const nothingFor = async (id: string): Promise<void> => {
    expect((await f.db.query('SELECT 1 FROM certificates WHERE request_id = $1', [id])).rowCount).toBe(0);
  };

  it('refuses an order that names another template than the recorded request, or another requester', async () => {
    const csr = makeCsr();
    const id = await request(csr.csrDer, { template: 'WebServerApproval' });
    // WebServer's own profile, so only the recorded template can tell.
    await expect(ca.issue(order(id, csr.csrDer))).rejects.toMatchObject({ kind: 'conflict', message: expect.stringMatching(/names the template WebServer; request \d+ was recorded for WebServerApproval/) });
    const id2 = await request(csr.csrDer, { requester: 'bob' });
    await expect(ca.issue(order(id2, csr.csrDer))).rejects.toMatchObject({ kind: 'conflict', message: expect.stringMatching(/requester alice; request \d+ was recorded for another/) });
    await nothingFor(id);
    await nothingFor(id2);
  });

  it('refuses an order for a request with no recorded CSR, another CSR, an unknown request or a denied one', async () => {
    const csr = makeCsr();
    const noCsr = await request(undefined);
    await expect(ca.issue(order(noCsr, csr.csrDer))).rejects.toMatchObject({ kind: 'conflict', message: expect.stringMatching(/not the one recorded/) });
    const other = await request(makeCsr().csrDer);
    await expect(ca.issue(order(other, csr.csrDer))).rejects.toMatchObject({ kind: 'conflict', message: expect.stringMatching(/not the one recorded/) });
    await expect(ca.issue(order('987654321987', csr.csrDer))).rejects.toMatchObject({ kind: 'notFound' });
    const denied = await request(csr.csrDer, { status: 'denied' });
    await expect(ca.issue(order(denied, csr.csrDer))).rejects.toMatchObject({ kind: 'conflict', message: expect.stringMatching(/is denied; only a pending request is signed/) });
    for (const id of [noCsr, other, denied]) await nothingFor(id);
  });

  it('signs a request of an approval template only with an approval of this very order', async () => {
    const csr = makeCsr();
    const id = await request(csr.csrDer, { template: 'WebServerApproval' });
    const o: IssuanceOrder = order(id, csr.csrDer, { template: 'WebServerApproval', templateInfo: undefined });
    await expect(ca.issue(o)).rejects.toMatchObject({ kind: 'forbidden', message: expect.stringMatching(/waits for a certificate manager's approval/) });
    await nothingFor(id);

    // Approved for www.example.test; an order for other names is not covered.
    await recordApproval(f.db, { requestId: id, orderDigest: approvalDigest(o), approvedBy: 'officer', at: new Date() });
    const otherNames = { ...o, subject: [{ type: 'CN', value: 'evil.example.test' }], sans: [{ type: 'dns' as const, value: 'evil.example.test' }] };
    await expect(ca.issue(otherNames)).rejects.toMatchObject({ kind: 'forbidden', message: expect.stringMatching(/approved request \d+ with other names/) });
    await nothingFor(id);

    const cert = await ca.issue(o);
    expect(cert.replayed).toBe(false);
    expect((await f.db.query<{ status: string }>('SELECT status FROM requests WHERE id = $1', [id])).rows[0]!.status).toBe('issued');
  });

  it("a request recorded as waiting for approval needs one even when its template no longer pends", async () => {
    const csr = makeCsr();
    const id = await request(csr.csrDer, { pendReason: 'approval' });
    const o = order(id, csr.csrDer);
    await expect(ca.issue(o)).rejects.toMatchObject({ kind: 'forbidden' });
    await recordApproval(f.db, { requestId: id, orderDigest: approvalDigest(o), approvedBy: 'officer', at: new Date() });
    expect((await ca.issue(o)).replayed).toBe(false);
  });

  it('takes the extensions from the template, and refuses an order whose profile is not the template’s', async () => {
    const csr = makeCsr();
    const id = await request(csr.csrDer);
    await expect(ca.issue(order(id, csr.csrDer, { ekus: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.3'] }))).rejects.toMatchObject({ kind: 'policyDenied' });
    await expect(ca.issue(order(id, csr.csrDer, { keyUsage: ['digitalSignature', 'keyEncipherment', 'keyCertSign'] }))).rejects.toMatchObject({ kind: 'policyDenied' });
    await nothingFor(id);
  });
});
