import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { listTemplates } from '../../src/store/template-repo.js';
import { templatesToYaml } from '../../src/policy/template-yaml.js';

/**
 * A template's own key rules, stricter than the CA-wide floor (RSA ≥ 2048 and the usual curves):
 * an administrator who narrows a template to EC keys, or to RSA-3072, means it.
 */
describe('a template’s key algorithms and minimal key length', () => {
  let s: TestServer;
  let agent: Agent;
  beforeAll(async () => {
    s = await startTestServer();
    agent = new Agent({ connect: { ca: s.rootPem } });
    await runOperation(s.core, 'user.add', { name: 'kim', password: 'K1m-pass' }, 'test');
    const web = (await listTemplates(s.core.db)).find((t) => t.name === 'WebServer')!;
    const ecOnly = { ...structuredClone(web), name: 'EcOnly', displayName: 'EC only', oid: `${web.oid}.81` };
    ecOnly.privateKey.algorithms = ['ECDSA_P256'];
    const rsa3072 = { ...structuredClone(web), name: 'Rsa3072', displayName: 'RSA 3072', oid: `${web.oid}.82` };
    rsa3072.privateKey.algorithms = ['RSA'];
    rsa3072.privateKey.minimalKeyLength = 3072;
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([ecOnly, rsa3072]) }, 'test');
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const submit = async (template: string, key: 'ec:P-256' | 'ec:P-384' | 'rsa:2048' | 'rsa:3072') => {
    const csr = makeCsr({ key, subject: 'CN=k.example.test', sans: ['DNS:k.example.test'], templateName: template });
    const url = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const r = await postSoap(url, buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'kim', password: 'K1m-pass' }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    const fault = r.env ? parseFault(r.env) : null;
    return fault ? { denied: fault.reason } : { disposition: parseRstrResponse(r.env!).disposition };
  };

  it('EC-only template: P-256 issued, RSA-2048 (above the CA-wide floor) and P-384 (allowed CA-wide) denied', async () => {
    expect(await submit('EcOnly', 'ec:P-256')).toEqual({ disposition: 'issued' });
    expect(await submit('EcOnly', 'rsa:2048')).toMatchObject({ denied: expect.stringMatching(/the template does not allow RSA keys/) });
    expect(await submit('EcOnly', 'ec:P-384')).toMatchObject({ denied: expect.stringMatching(/the template does not allow P-384 keys/) });
  });

  it('RSA-3072 template: RSA-3072 issued, RSA-2048 (the CA-wide floor) denied with the length, P-256 denied', async () => {
    expect(await submit('Rsa3072', 'rsa:3072')).toEqual({ disposition: 'issued' });
    expect(await submit('Rsa3072', 'rsa:2048')).toMatchObject({ denied: expect.stringMatching(/at least 3072 bits; the request has 2048/) });
    expect(await submit('Rsa3072', 'ec:P-256')).toMatchObject({ denied: expect.stringMatching(/the template does not allow P-256 keys/) });
  });

  it('each denial is recorded as denied, never pending', async () => {
    const rows = (await s.core.db.query<{ template: string; status: string }>(`SELECT template, status FROM requests WHERE template IN ('EcOnly', 'Rsa3072')`)).rows;
    expect(rows.filter((r) => r.status === 'issued')).toHaveLength(2);
    expect(rows.filter((r) => r.status === 'pending')).toHaveLength(0);
  });
});
