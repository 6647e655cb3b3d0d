import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { Agent } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, pemOf } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cepPath, cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { buildGetPoliciesRequest, parseGetPoliciesResponse } from '../../src/protocol/xcep/index.js';
import { buildSignedData } from '../../src/protocol/pkcs7/index.js';
import { listTemplates } from '../../src/store/template-repo.js';
import { templatesToYaml } from '../../src/policy/template-yaml.js';
import { fixedClock } from '../../src/clock.js';
import type { Template } from '../../src/policy/template.js';

describe('key-based renewal and renewal-only endpoints', () => {
  let s: TestServer;
  let agent: Agent;
  const clock = fixedClock(new Date());
  let base: Template;
  beforeAll(async () => {
    s = await startTestServer({ clock, config: { 'policy.renewalOnly': ['Certificate'] } });
    agent = new Agent({ connect: { ca: s.rootPem } });
    await runOperation(s.core, 'user.add', { name: 'dev1', password: 'D3v-pass' }, 'test');
    base = (await listTemplates(s.core.db)).find((t) => t.name === 'WebServer')!;
    // Only user:dev1 may enroll at first; renewal is key-based where the template allows it.
    const kbr = { ...structuredClone(base), name: 'Kbr', displayName: 'Key-based renewal', oid: `${base.oid}.70`, validityPeriodSeconds: 10 * 86400, renewalPeriodSeconds: 3 * 86400, permissions: [{ principal: 'user:dev1', read: true, enroll: true, autoenroll: false }] };
    kbr.enrollment.allowKeyBasedRenewal = true;
    kbr.extensions.ekus = ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']; // the certificate authenticates itself over TLS
    const noKbr = { ...structuredClone(kbr), name: 'NoKbr', oid: `${base.oid}.71` };
    noKbr.enrollment.allowKeyBasedRenewal = false;
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([kbr, noKbr]) }, 'test');
  });
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  async function enroll(template: string): Promise<{ certDer: Uint8Array; keyPem: string }> {
    const csr = makeCsr({ key: 'ec:P-256', subject: `CN=${template.toLowerCase()}.example.test`, sans: [`DNS:${template.toLowerCase()}.example.test`], templateName: template });
    const u = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    const r = await postSoap(u, buildRstRequest({ to: u, securityHeaderXml: usernameHeader({ username: 'dev1', password: 'D3v-pass', created: clock.now() }), requestType: 'issue', token: { valueType: 'pkcs10', der: csr.csrDer } }), agent);
    const out = parseRstrResponse(r.env!);
    if (out.disposition !== 'issued') throw new Error(r.body);
    return { certDer: out.certificateDer, keyPem: csr.keyPem };
  }

  const renewWithTls = (cur: { certDer: Uint8Array; keyPem: string }, o: { requestType?: 'renew' | 'issue' } = {}) => {
    const url = `${s.url}${cesPath('opences Issuing CA', 'Certificate')}`;
    const tls = new Agent({ connect: { ca: s.rootPem, cert: pemOf(cur.certDer), key: cur.keyPem } });
    const newCsr = makeCsr({ key: 'ec:P-256', subject: 'CN=ignored' }).csrDer;
    const token = o.requestType === 'issue'
      ? { valueType: 'pkcs10' as const, der: newCsr }
      : { valueType: 'pkcs7' as const, der: buildSignedData({ content: newCsr, contentType: '1.2.840.113549.1.7.1', signerCertDer: cur.certDer, signerKey: createPrivateKey(cur.keyPem) }) };
    return postSoap(url, buildRstRequest({ to: url, requestType: o.requestType ?? 'renew', token }), tls);
  };

  it('advertises the renewal-only endpoint as renewalOnly in GetPolicies', async () => {
    const u = `${s.url}${cepPath('UsernamePassword')}`;
    const r = parseGetPoliciesResponse((await postSoap(u, buildGetPoliciesRequest({ to: u, securityHeaderXml: usernameHeader({ username: 'dev1', password: 'D3v-pass', created: clock.now() }) }), agent)).env!);
    const uris = r.cAs![0]!.uris;
    expect(uris.find((x) => x.clientAuthentication === 8)?.renewalOnly).toBe(true);
    expect(uris.find((x) => x.clientAuthentication === 4)?.renewalOnly).toBe(false);
  });

  it('lets the certificate alone renew itself when the template allows key-based renewal, keeping the subject', async () => {
    const cur = await enroll('Kbr');
    // the account loses its enroll right: only the certificate can still renew
    const t = (await listTemplates(s.core.db)).find((x) => x.name === 'Kbr')!;
    t.permissions = [];
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([t]) }, 'test');
    clock.advance(8 * 86400_000);
    try {
      const r = await renewWithTls(cur);
      expect(r.status, r.body).toBe(200);
      const out = parseRstrResponse(r.env!);
      expect(out.disposition).toBe('issued');
      if (out.disposition !== 'issued') return;
      expect(new X509Certificate(Buffer.from(out.certificateDer)).subject).toBe(new X509Certificate(Buffer.from(cur.certDer)).subject);
      expect(new X509Certificate(Buffer.from(out.certificateDer)).subject).toBe('CN=kbr.example.test');
    } finally {
      clock.advance(-8 * 86400_000);
    }
  });

  it('refuses key-based renewal when the template does not allow it', async () => {
    const cur = await enroll('NoKbr');
    const t = (await listTemplates(s.core.db)).find((x) => x.name === 'NoKbr')!;
    t.permissions = [];
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([t]) }, 'test');
    clock.advance(8 * 86400_000);
    try {
      const r = await renewWithTls(cur);
      expect(parseFault(r.env!)?.reason).toMatch(/does not have permission to enroll for the template NoKbr/);
    } finally {
      clock.advance(-8 * 86400_000);
    }
  });

  it('refuses new requests on a renewal-only endpoint', async () => {
    const t = (await listTemplates(s.core.db)).find((x) => x.name === 'Kbr')!;
    t.permissions = [{ principal: 'user:dev1', read: true, enroll: true, autoenroll: false }];
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([t]) }, 'test');
    const cur = await enroll('Kbr');
    const r = await renewWithTls(cur, { requestType: 'issue' });
    expect(parseFault(r.env!)?.reason).toMatch(/accepts renewal requests only/);
  });
});
