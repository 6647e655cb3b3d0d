import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap } from '../helpers/soap-client.js';
import { makeCsr, openssl, tmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest, parseGetPoliciesResponse } from '../../src/protocol/xcep/index.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';

/** A partner's own two-level PKI made with openssl: root → issuing → client certificate. */
function partnerPki(dir: string, org: string, user: string): { rootPem: string; chainPem: string; certPem: string; keyPem: string } {
  const f = (n: string): string => join(dir, n);
  writeFileSync(f('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  writeFileSync(f('leaf.ext'), `basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\nsubjectAltName=email:${user}@${org}.test\n`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('root.key'), '-out', f('root.pem'), '-subj', `/CN=${org} Root`, '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('int.key'), '-out', f('int.csr'), '-subj', `/CN=${org} Issuing`]);
  openssl(['x509', '-req', '-in', f('int.csr'), '-CA', f('root.pem'), '-CAkey', f('root.key'), '-CAcreateserial', '-out', f('int.pem'), '-days', '30', '-extfile', f('ca.ext')]);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', `/CN=${user}`]);
  openssl(['x509', '-req', '-in', f('leaf.csr'), '-CA', f('int.pem'), '-CAkey', f('int.key'), '-CAcreateserial', '-out', f('leaf.pem'), '-days', '10', '-extfile', f('leaf.ext')]);
  return { rootPem: readFileSync(f('root.pem'), 'utf8'), chainPem: readFileSync(f('int.pem'), 'utf8'), certPem: readFileSync(f('leaf.pem'), 'utf8'), keyPem: readFileSync(f('leaf.key'), 'utf8') };
}

describe('partner organisations', () => {
  let s: TestServer;
  const acme = partnerPki(tmp('acme-'), 'acme', 'svc1');
  const evil = partnerPki(tmp('evil-'), 'evil', 'svc1');
  beforeAll(async () => {
    s = await startTestServer();
    await runOperation(s.core, 'partner.add', { name: 'acme', rootsPem: acme.rootPem, mapFrom: 'email', templates: ['WebServer'] }, 'test');
  });
  afterAll(async () => s?.stop());

  const as = (p: { certPem: string; chainPem: string; keyPem: string }) => new Agent({ connect: { ca: s.rootPem, cert: p.certPem + p.chainPem, key: p.keyPem } });
  const cep = () => `${s.url}${cepPath('Certificate')}`;
  const ces = () => `${s.url}${cesPath('opences Issuing CA', 'Certificate')}`;
  const issue = (agent: Agent, template: string) => postSoap(ces(), buildRstRequest({ to: ces(), requestType: 'issue', token: { valueType: 'pkcs10', der: makeCsr({ subject: 'CN=partner.acme.test', sans: ['DNS:partner.acme.test'], templateName: template }).csrDer } }), agent);

  it('a partner certificate sees and gets only the templates in the partner’s scope', async () => {
    const agent = as(acme);
    const pol = parseGetPoliciesResponse((await postSoap(cep(), buildGetPoliciesRequest({ to: cep() }), agent)).env!);
    expect(pol.policies!.map((p) => p.attributes.commonName)).toEqual(['WebServer']);
    const ok = await issue(agent, 'WebServer');
    expect(ok.status, ok.body).toBe(200);
    const out = parseRstrResponse(ok.env!);
    const row = (await s.core.db.query<{ requester: string }>('SELECT requester FROM requests WHERE id = $1', [out.requestId])).rows[0];
    expect(row?.requester).toBe('partner:acme/svc1@acme.test');
    // outside the scope: refused even though User is open to every authenticated principal
    const out2 = await issue(agent, 'User');
    expect(parseFault(out2.env!)?.reason).toMatch(/does not have permission to enroll for the template User/);
  });

  it('a certificate from a root nobody trusts is refused, and removing the partner revokes its trust', async () => {
    expect(parseFault((await postSoap(cep(), buildGetPoliciesRequest({ to: cep() }), as(evil))).env!)?.reason).toBe('authentication failed');
    await runOperation(s.core, 'partner.remove', { name: 'acme' }, 'test');
    expect(parseFault((await postSoap(cep(), buildGetPoliciesRequest({ to: cep() }), as(acme))).env!)?.reason).toBe('authentication failed');
    const ev = await s.core.audit.list({ type: 'auth.failure', limit: 2 });
    expect(ev[0]?.reason).toMatch(/not issued by a trusted CA/);
  });

  it('refuses a partner without a CA root', async () => {
    await expect(runOperation(s.core, 'partner.add', { name: 'bad', rootsPem: acme.certPem }, 'test')).rejects.toThrow(/is not a CA certificate/);
  });
});
