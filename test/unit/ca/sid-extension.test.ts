import 'reflect-metadata';
import { X509Certificate as PeculiarCert, SubjectAlternativeNameExtension } from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCsr } from '../../helpers/openssl.js';
import type { LocalCa } from '../../../src/ca/engine.js';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import { insertRequest } from '../../../src/store/request-repo.js';
import { sidFromSecurityExtension } from '../../../src/ca/sid-extension.js';
import { ntdsSecurityExtension } from '../../../src/ca/extensions.js';
import { certificateIdentity } from '../../../src/enrollment/certificate-identity.js';
import { isSid, sidToBytes, sidToString } from '../../../src/auth/sid.js';
import { order, setupCa, type CaFixture } from './ca-fixture.js';
import { decodeOrder, encodeOrder } from '../../../src/ca/backends/wire.js';

const SID = 'S-1-5-21-3623811015-3361044348-30300820-1013';

/**
 * The strong mapping of KB5014754: the account's SID in szOID_NTDS_CA_SECURITY_EXT (and the SAN
 * URL when the template asks), signed only when it is the SID recorded with the request.
 */
describe('the SID security extension', () => {
  let f: CaFixture;
  let ca: LocalCa;
  const templates = defaultTemplates('1.3.6.1.4.1.311.21.8.1.2').map((t) => ({ ...t, minorRevision: 5 }));
  const web = templates.find((t) => t.name === 'WebServer')!;
  const urlTemplate = { ...web, name: 'WebServerSidUrl', oid: `${web.oid}.9`, extensions: { ...web.extensions, sidUrl: true } };
  const noExt = { ...web, name: 'WebServerNoSid', oid: `${web.oid}.8`, extensions: { ...web.extensions, securityExtension: false } };
  const all = [...templates, urlTemplate, noExt];

  beforeAll(async () => {
    f = await setupCa('P-256');
    ca = await f.engine({ templates: async (n) => all.find((t) => t.name === n) ?? null });
  });
  afterAll(async () => f?.db.close());

  const request = (csrDer: Uint8Array, o: { template?: string; sid?: string } = {}): Promise<string> =>
    insertRequest(f.db, {
      status: 'pending',
      requester: 'alice',
      authMethod: 'kerberos',
      template: o.template ?? 'WebServer',
      requestFormat: 'pkcs10',
      rawRequest: csrDer,
      csrDer,
      issuanceOrder: { template: o.template ?? 'WebServer', subject: [], notBefore: '', ...(o.sid ? { sid: o.sid } : {}) },
      disposition: 5,
      dispositionMessage: 'Taken Under Submission',
      submittedAt: new Date(),
    });
  const nothingFor = async (id: string): Promise<void> => {
    expect((await f.db.query('SELECT 1 FROM certificates WHERE request_id = $1', [id])).rowCount).toBe(0);
  };
  const templateOf = (t: typeof web) => ({ template: t.name, templateInfo: { oid: t.oid, majorRevision: t.majorRevision, minorRevision: 5 } });

  it('encodes the extension as Windows CAs do: SEQUENCE { [0] { OID 1.3.6.1.4.1.311.25.2.1, [0] { OCTET STRING sid } } }', () => {
    const ext = ntdsSecurityExtension('S-1-5-21-1-2-3-500');
    const sidHex = Buffer.from('S-1-5-21-1-2-3-500', 'ascii').toString('hex');
    // Built by hand from MS-WCCE §2.2.2.7.7.4 (the layout Certify and certipy write): extnID, then
    // extnValue OCTET STRING { SEQUENCE { [0] { OID …25.2.1, [0] { OCTET STRING (18 bytes) } } } }.
    expect(ext.toString('hex')).toBe(`3033${'06092b0601040182371902'}0426${'3024a022'}${'060a2b060104018237190201'}a0140412${sidHex}`);
  });

  it('puts the recorded SID in the certificate, where certificateIdentity reads it back', async () => {
    const csr = makeCsr();
    const id = await request(csr.csrDer, { sid: SID });
    const cert = await ca.issue(order(id, csr.csrDer, { sid: SID }));
    const c = new PeculiarCert(Buffer.from(cert.der));
    const ext = c.extensions.find((e) => e.type === '1.3.6.1.4.1.311.25.2');
    expect(ext?.critical).toBe(false);
    expect(sidFromSecurityExtension(new Uint8Array(ext!.value))).toBe(SID);
    expect(certificateIdentity(cert.der).sid).toBe(SID);
    // No SID URL unless the template asks.
    expect(c.getExtension(SubjectAlternativeNameExtension)!.names.toJSON().some((n) => n.type === 'url')).toBe(false);
  });

  it('refuses an order whose SID is not the recorded one, or carries a SID the request was recorded without', async () => {
    const csr = makeCsr();
    const id = await request(csr.csrDer, { sid: SID });
    await expect(ca.issue(order(id, csr.csrDer, { sid: 'S-1-5-21-3623811015-3361044348-30300820-500' }))).rejects.toMatchObject({ kind: 'conflict', message: expect.stringMatching(/SID is not the one recorded/) });
    await expect(ca.issue(order(id, csr.csrDer))).rejects.toMatchObject({ kind: 'conflict' });
    const csr2 = makeCsr();
    const bare = await request(csr2.csrDer);
    await expect(ca.issue(order(bare, csr2.csrDer, { sid: SID }))).rejects.toMatchObject({ kind: 'conflict', message: expect.stringMatching(/SID is not the one recorded/) });
    await nothingFor(id);
    await nothingFor(bare);
    // A value that is not a SID never reaches the certificate.
    await expect(ca.issue(order(bare, csr2.csrDer, { sid: 'S-1-5-21-1"\u0000' }))).rejects.toMatchObject({ kind: 'policyDenied' });
  });

  it('adds the SAN URL tag:microsoft.com,2022-09-14:sid:<SID> when the template asks, and refuses an order that brings one itself', async () => {
    const csr = makeCsr();
    const id = await request(csr.csrDer, { template: urlTemplate.name, sid: SID });
    const cert = await ca.issue(order(id, csr.csrDer, { ...templateOf(urlTemplate), sid: SID }));
    const names = new PeculiarCert(Buffer.from(cert.der)).getExtension(SubjectAlternativeNameExtension)!.names.toJSON();
    expect(names).toContainEqual({ type: 'url', value: `tag:microsoft.com,2022-09-14:sid:${SID}` });
    expect(names).toContainEqual({ type: 'dns', value: 'www.example.test' });

    const csr2 = makeCsr();
    const forged = await request(csr2.csrDer);
    const o = order(forged, csr2.csrDer, { sans: [{ type: 'dns', value: 'www.example.test' }, { type: 'uri', value: `tag:microsoft.com,2022-09-14:sid:${SID}` }] });
    await expect(ca.issue(o)).rejects.toMatchObject({ kind: 'policyDenied' });
    await nothingFor(forged);
  });

  it('leaves the extension out for a template with securityExtension: false, and refuses to sign a SID for it', async () => {
    const csr = makeCsr();
    const id = await request(csr.csrDer, { template: noExt.name, sid: SID });
    await expect(ca.issue(order(id, csr.csrDer, { ...templateOf(noExt), sid: SID }))).rejects.toMatchObject({ kind: 'policyDenied', message: expect.stringMatching(/puts no SID/) });
    const csr2 = makeCsr();
    const id2 = await request(csr2.csrDer, { template: noExt.name });
    const cert = await ca.issue(order(id2, csr2.csrDer, templateOf(noExt)));
    expect(new PeculiarCert(Buffer.from(cert.der)).extensions.some((e) => e.type === '1.3.6.1.4.1.311.25.2')).toBe(false);
  });

  it('converts binary SIDs (objectSid, tokenGroups) to and from their string form', () => {
    const b = Buffer.from('010500000000000515000000c7f7fed77c7755c8945ace01f5030000', 'hex');
    expect(sidToString(b)).toBe(SID);
    expect(sidToBytes(SID).equals(b)).toBe(true);
    expect(isSid('S-1-5-11')).toBe(true);
    expect(isSid('S-1-5-21-1-2-99999999999')).toBe(false);
    expect(() => sidToString(Buffer.from('0105000000', 'hex'))).toThrow();
  });

  it('the CA API carries the SID in the order (remote CA nodes re-check it the same way) and refuses a value that is not a SID', () => {
    const o = order('42', new Uint8Array([0x30, 0]), { sid: SID });
    const wire = JSON.parse(JSON.stringify(encodeOrder(o)));
    expect(wire.sid).toBe(SID);
    expect(decodeOrder(wire).sid).toBe(SID);
    expect(decodeOrder(JSON.parse(JSON.stringify(encodeOrder(order('43', new Uint8Array([0x30, 0])))))).sid).toBeUndefined();
    expect(() => decodeOrder({ ...wire, sid: 'S-1-5-21-1"><x' })).toThrow(expect.objectContaining({ kind: 'malformed' }));
  });
});
