import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap, usernameHeader } from '../helpers/soap-client.js';
import { makeCsr, openssl, tmp, writeTmp } from '../helpers/openssl.js';
import { runOperation } from '../../src/ops/operations.js';
import { cesPath } from '../../src/http/endpoints.js';
import { buildRstRequest, parseFault, parseRstrResponse } from '../../src/protocol/wstep/index.js';
import { listTemplates } from '../../src/store/template-repo.js';
import { templatesToYaml } from '../../src/policy/template-yaml.js';
import { HRESULT } from '../../src/errors.js';
import { getRequest } from '../../src/store/request-repo.js';

const BAD = join(__dirname, '../fixtures/bad/csr');
const fixture = (f: string) => new Uint8Array(readFileSync(join(BAD, f)));

/** A SHA-1-signed request made by openssl, naming `template` in the template-name extension. */
function sha1Csr(template: string, cn: string): Uint8Array {
  const d = tmp();
  const cnf = writeTmp(d, 'req.cnf', `[req]\ndistinguished_name=dn\nprompt=no\nreq_extensions=ext\n[dn]\nCN=${cn}\n[ext]\nsubjectAltName=DNS:${cn}\n1.3.6.1.4.1.311.20.2=ASN1:BMPSTRING:${template}\n`);
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', join(d, 'k.pem')]);
  openssl(['req', '-new', '-key', join(d, 'k.pem'), '-config', cnf, '-sha1', '-outform', 'DER', '-out', join(d, 'r.der')]);
  return new Uint8Array(readFileSync(join(d, 'r.der')));
}

describe('request limits and key/signature hygiene over CES: denied with the reason, recorded as denied, audited, nothing pending', () => {
  let s: TestServer;
  let agent: Agent;
  let url: string;
  beforeAll(async () => {
    s = await startTestServer();
    agent = new Agent({ connect: { ca: s.rootPem } });
    url = `${s.url}${cesPath('opences Issuing CA', 'UsernamePassword')}`;
    await runOperation(s.core, 'user.add', { name: 'carol', password: 'C4rol-pw' }, 'test');
    const web = (await listTemplates(s.core.db)).find((t) => t.name === 'WebServer')!;
    const approval = (await listTemplates(s.core.db)).find((t) => t.name === 'WebServerApproval')!;
    const narrow = { ...structuredClone(web), name: 'TwoNames', displayName: 'Two names', oid: `${web.oid}.91`, requests: { maxSans: 2 } };
    const legacy = { ...structuredClone(web), name: 'LegacyWeb', displayName: 'Legacy web', oid: `${web.oid}.92`, requests: { allowSha1Signatures: true } };
    const legacyApproval = { ...structuredClone(approval), name: 'LegacyApproval', displayName: 'Legacy approval', oid: `${web.oid}.93`, requests: { allowSha1Signatures: true } };
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([narrow, legacy, legacyApproval]) }, 'test');
  }, 120_000);
  afterAll(async () => {
    await agent?.close();
    await s?.stop();
  });

  const submit = (der: Uint8Array) =>
    postSoap(url, buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'carol', password: 'C4rol-pw' }), requestType: 'issue', token: { valueType: 'pkcs10', der } }), agent);
  const certCount = async () => Number((await s.core.db.query<{ n: string }>('SELECT count(*) AS n FROM certificates')).rows[0]!.n);
  const pendingOfCarol = async () => Number((await s.core.db.query<{ n: string }>(`SELECT count(*) AS n FROM requests WHERE requester = 'carol' AND status = 'pending'`)).rows[0]!.n);

  /** The whole denial: a SOAP fault with CertificateEnrollmentWSDetail, the row, the audit event, nothing issued or pending. */
  async function expectDenied(der: Uint8Array, reason: RegExp, hresult: number): Promise<string> {
    const before = await certCount();
    const r = await submit(der);
    expect(r.status, r.body).toBe(500);
    const f = parseFault(r.env!)!;
    expect(f.reason).toMatch(reason);
    expect(f.detail?.errorCode).toBe(hresult);
    const id = f.detail?.requestId;
    expect(id).toMatch(/^\d+$/);
    const row = (await getRequest(s.core.db, id!))!;
    expect(row).toMatchObject({ status: 'denied', disposition: 2, errorCode: hresult });
    expect(row.dispositionMessage).toMatch(reason);
    const ev = (await s.core.audit.list({ principal: 'carol', limit: 20 })).find((e) => e.requestId === id)!;
    expect(ev).toMatchObject({ type: 'enroll.issue', outcome: 'denied', template: expect.any(String) });
    expect(ev.reason).toMatch(reason);
    expect(await certCount()).toBe(before);
    expect(await pendingOfCarol()).toBe(0);
    // Asking again gets the same denial (recorded again); still nothing pending.
    const again = parseFault((await submit(der)).env!)!;
    expect(again.reason).toMatch(reason);
    expect(await pendingOfCarol()).toBe(0);
    return id!;
  }

  it('denies 101 SANs (the WebServer default is 100)', async () => {
    await expectDenied(fixture('too_many_sans_101.der.csr'), /the request asks for 101 subject alternative names; the template WebServer allows at most 100/, HRESULT.CERTSRV_E_BAD_REQUESTSUBJECT);
  });

  it('denies the 389 KB CSR with 20,000 DNS names for its size, before anything else', async () => {
    const csr = makeCsr({ subject: 'CN=flood.example.test', sans: Array.from({ length: 20_000 }, (_, i) => `DNS:host${i}.flood.example.test`), templateName: 'WebServer' }).csrDer;
    expect(csr.length).toBeGreaterThan(380_000);
    await expectDenied(csr, new RegExp(`the certificate request is ${csr.length} bytes; at most 131072 are accepted`), HRESULT.E_INVALIDARG);
  });

  it('denies a 5,000-character CN at the RA (RFC 5280: 64), instead of leaving it for the CA to refuse on every poll', async () => {
    await expectDenied(fixture('long_cn_5000.der.csr'), /the subject CN has 5000 characters; RFC 5280 allows at most 64/, HRESULT.CERTSRV_E_BAD_REQUESTSUBJECT);
  });

  it('denies an RSA key with public exponent 3', async () => {
    await expectDenied(fixture('rsa_exponent_3.der.csr'), /RSA public exponent 3 is not accepted by this CA \(65537 is; ca\.rsaExponents\)/, HRESULT.NTE_BAD_KEY);
  });

  it('denies a SHA-1-signed CSR', async () => {
    await expectDenied(fixture('sha1_signature.der.csr'), /the request signature uses SHA-1, which this template does not accept \(requests\.allowSha1Signatures\)/, HRESULT.NTE_BAD_ALGID);
  });

  it("honours a template's own SAN limit (requests.maxSans)", async () => {
    const csr = makeCsr({ subject: 'CN=a.example.test', sans: ['DNS:a.example.test', 'DNS:b.example.test', 'DNS:c.example.test'], templateName: 'TwoNames' }).csrDer;
    await expectDenied(csr, /asks for 3 subject alternative names; the template TwoNames allows at most 2/, HRESULT.CERTSRV_E_BAD_REQUESTSUBJECT);
  });

  it('issues a SHA-1-signed CSR for a template that allows legacy clients (requests.allowSha1Signatures)', async () => {
    const r = await submit(sha1Csr('LegacyWeb', 'legacy.example.test'));
    expect(r.status, r.body).toBe(200);
    expect(parseRstrResponse(r.env!).disposition).toBe('issued');
  });

  it('a request the CA refuses when it is finally signed ends denied (recorded, audited), not pending for every poll', async () => {
    // Accepted while the template allowed SHA-1, waiting for a manager; then the template stops allowing it.
    const r = await submit(sha1Csr('LegacyApproval', 'later.example.test'));
    const p = parseRstrResponse(r.env!);
    expect(p.disposition).toBe('pending');
    const id = p.requestId!;
    const t = (await listTemplates(s.core.db)).find((x) => x.name === 'LegacyApproval')!;
    await runOperation(s.core, 'template.import', { yaml: templatesToYaml([{ ...t, requests: { allowSha1Signatures: false } }]) }, 'test');
    const before = await certCount();
    await expect(runOperation(s.core, 'request.approve', { id }, 'local:manager')).rejects.toMatchObject({ kind: 'policyDenied', message: expect.stringMatching(/the CA refused to sign: the order's request signature uses SHA-1.*is now denied/) });
    expect(await getRequest(s.core.db, id)).toMatchObject({ status: 'denied', errorCode: HRESULT.NTE_BAD_ALGID });
    const ev = (await s.core.audit.list({ type: 'certificate.issue', limit: 20 })).find((e) => e.requestId === id)!;
    expect(ev).toMatchObject({ outcome: 'denied', actor: 'local:manager', principal: 'carol' });
    expect(ev.reason).toMatch(/the CA refused to sign: .*SHA-1/);
    // The requester's poll gets the denial; nothing is pending or issued.
    const poll = await postSoap(url, buildRstRequest({ to: url, securityHeaderXml: usernameHeader({ username: 'carol', password: 'C4rol-pw' }), requestType: 'queryTokenStatus', requestId: id }), agent);
    const f = parseFault(poll.env!)!;
    expect(f.reason).toMatch(/the CA refused to sign/);
    expect(f.detail?.errorCode).toBe(HRESULT.NTE_BAD_ALGID);
    expect(await pendingOfCarol()).toBe(0);
    expect(await certCount()).toBe(before);
  });

  it('leaves an intact audit chain', async () => {
    expect((await s.core.audit.verify()).ok).toBe(true);
  });
});
