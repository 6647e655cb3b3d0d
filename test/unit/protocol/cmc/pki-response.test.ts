import { describe, expect, it } from 'vitest';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { openssl, tmp, writeTmp } from '../../../helpers/openssl.js';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { CMC_OID, buildPkiResponse, buildPkiResponseContent, parsePkiResponse, pendTokenFor, sortedCertificates } from '../../../../src/protocol/cmc/index.js';
import { prepareSignedData } from '../../../../src/protocol/pkcs7/build.js';
import { nullValue, oid, seq } from '../../../../src/ca/der.js';

/** A self-signed certificate and its key, as DER and PEM. */
function selfSigned(cn: string): { der: Buffer; keyPem: string } {
  const d = tmp();
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(d, 'k.pem'), '-out', join(d, 'c.pem'), '-subj', `/CN=${cn}`, '-days', '1']);
  openssl(['x509', '-in', join(d, 'c.pem'), '-outform', 'DER', '-out', join(d, 'c.der')]);
  return { der: readFileSync(join(d, 'c.der')), keyPem: readFileSync(join(d, 'k.pem'), 'utf8') };
}

describe('the CMC full response as the Windows CA builds it (MS-WCCE 2.2.2.8, MS-WSTEP 4.1.1.2)', () => {
  it('issued: id-cmc-statusInfo (v1) "Issued", then the add-attributes control with the SHA-1 of the certificate; certificates as a DER SET OF', () => {
    const certs = [selfSigned('leaf').der, selfSigned('issuing').der, selfSigned('root').der];
    const r = parsePkiResponse(buildPkiResponse({ status: 'success', bodyList: [1], statusString: 'Issued', issuedCertificate: certs[0], certificates: certs }));
    expect(r.statuses).toEqual([expect.objectContaining({ version: 1, code: 0, statusString: 'Issued', bodyList: [1] })]);
    expect(r.controls.map((c) => [c.bodyPartId, c.type])).toEqual([
      [1, CMC_OID.statusInfo],
      [2, CMC_OID.msCmcAddAttributes],
    ]);
    const hash = createHash('sha1').update(certs[0]!).digest('hex');
    expect(Buffer.from(r.controls[1]!.values[0]!).toString('hex')).toBe(`302f0201003003020101312530230609${Buffer.from(oid(CMC_OID.msIssuedCertHash)).toString('hex').slice(4)}31160414${hash}`);
    expect(r.certificates.map((c) => Buffer.from(c).toString('hex'))).toEqual(sortedCertificates(certs).map((c) => Buffer.from(c).toString('hex')));
    expect(r.signers).toEqual([]);
  });

  it('pending: the request id as a 32-bit little-endian pend token; denied: failInfo badRequest with the message', () => {
    expect(Buffer.from(pendTokenFor('65')).toString('hex')).toBe('41000000');
    expect(() => pendTokenFor('4294967296')).toThrow();
    const at = new Date('2026-12-03T10:00:00Z');
    const p = parsePkiResponse(buildPkiResponse({ status: 'pending', bodyList: [1], statusString: 'Taken Under Submission', pendInfo: { token: pendTokenFor('65'), time: at }, certificates: [] }));
    expect(p).toMatchObject({ status: 'pending', statusString: 'Taken Under Submission', pendInfo: { time: at } });
    expect(Buffer.from(p.pendInfo!.token).toString('hex')).toBe('41000000');
    expect(p.controls).toHaveLength(1);
    const d = parsePkiResponse(buildPkiResponse({ status: 'failed', bodyList: [1], statusString: 'Denied by x', failInfo: 2, certificates: [] }));
    expect(d).toMatchObject({ status: 'failed', statusString: 'Denied by x', failInfo: 2 });
  });

  it('signed by a key the codec never sees: signed attributes content type and message digest, a signer by issuer and serial that verifies (openssl too)', () => {
    const ca = selfSigned('Signing CA');
    const content = buildPkiResponseContent({ status: 'success', bodyList: [1], statusString: 'Issued' });
    const p = prepareSignedData({ contentType: CMC_OID.pkiResponse, content, signerCertDer: ca.der, certificates: [ca.der], digest: 'sha256', signatureAlgorithm: seq(oid('1.2.840.113549.1.1.11'), nullValue()) });
    const der = p.finish(sign('sha256', p.toBeSigned, ca.keyPem));
    const r = parsePkiResponse(der);
    expect(r.signers).toHaveLength(1);
    expect(r.signers[0]).toMatchObject({ signatureValid: true, sid: { kind: 'issuerAndSerial' } });
    expect(r.signers[0]!.signedAttributes.map((a) => a.type).sort()).toEqual(['1.2.840.113549.1.9.3', '1.2.840.113549.1.9.4']);
    const d = tmp();
    const caFile = writeTmp(d, 'ca.pem', `-----BEGIN CERTIFICATE-----\n${ca.der.toString('base64')}\n-----END CERTIFICATE-----\n`);
    openssl(['cms', '-verify', '-inform', 'DER', '-in', writeTmp(d, 'r.der', der), '-CAfile', caFile, '-purpose', 'any', '-binary', '-out', join(d, 'out.der')]);
    expect(readFileSync(join(d, 'out.der')).equals(Buffer.from(content))).toBe(true);
    // A different key's signature under the same signer name does not verify.
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    expect(parsePkiResponse(p.finish(sign('sha256', p.toBeSigned, other))).signers[0]!.signatureValid).toBe(false);
  });
});
