import { describe, expect, it } from 'vitest';
import { generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { bitString, boolean, explicit, integer, octetString, oid, seq, set, tlv, utcTime, utf8 } from '../../../src/ca/der.js';
import { pathTo } from '../../../src/auth/partners.js';

/**
 * Path building reads a stranger's certificate before anyone is authenticated (a TLS client
 * certificate or a WS-Security token naming a partner's CA). pkijs spent ~200 µs of CPU on each RDN
 * and each GeneralName: a name of 1,000 RDNs held the event loop 240–330 ms, 1,500 dNSNames ~300 ms.
 * The certificate is now read with the small DER reader. CPU budgets are multiplied by
 * OPENCES_TEST_CPU_SCALE (the mutation run sets 20).
 */
const CPU_SCALE = Number(process.env.OPENCES_TEST_CPU_SCALE ?? '1');

function cpuMs<T>(f: () => T): { ms: number; value: T } {
  const t = process.cpuUsage();
  const value = f();
  const d = process.cpuUsage(t);
  return { ms: (d.user + d.system) / 1000, value };
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const name = (...rdns: [string, string][]): Buffer => seq(...rdns.map(([type, value]) => set(seq(oid(type), utf8(value)))));
const ext = (id: string, value: Buffer, critical = false): Buffer => seq(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));

function certificate(o: { subject: Buffer; issuer: Buffer; key: KeyObject; signer: KeyObject; extensions?: Buffer[]; serial?: number }): X509Certificate {
  const spki = o.key.export({ type: 'spki', format: 'der' });
  const now = Date.now();
  const tbs = seq(explicit(0, integer(2)), integer(o.serial ?? 1), ECDSA_SHA256, o.issuer, seq(utcTime(new Date(now - 3_600_000)), utcTime(new Date(now + 86_400_000))), o.subject, spki, ...(o.extensions ? [explicit(3, seq(...o.extensions))] : []));
  return new X509Certificate(seq(tbs, ECDSA_SHA256, bitString(sign('sha256', tbs, o.signer))));
}

const ec = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rootKeys = ec();
const rootName = name(['2.5.4.10', 'Partner Org'], ['2.5.4.3', 'Partner Root']);
const root = certificate({
  subject: rootName,
  issuer: rootName,
  key: rootKeys.publicKey,
  signer: rootKeys.privateKey,
  extensions: [ext('2.5.29.19', seq(boolean(true)), true), ext('2.5.29.15', bitString(Buffer.from([0x06]), 1), true)],
});
const dnsNames = (n: number): Buffer => seq(...Array.from({ length: n }, (_, i) => tlv(0x82, Buffer.from(`host${i}.partner.example`))));
const manyRdns = (n: number): Buffer => name(...Array.from({ length: n }, (_, i): [string, string] => ['2.5.4.11', `unit ${i}`]));

describe('partner path building on a stranger’s crafted certificate', () => {
  it('reads a leaf of 250 RDNs and 1,000 dNSNames issued by the partner root, and finds its path, within 100 ms of CPU', () => {
    const leafKeys = ec();
    const leaf = certificate({ subject: manyRdns(250), issuer: rootName, key: leafKeys.publicKey, signer: rootKeys.privateKey, serial: 2, extensions: [ext('2.5.29.17', dnsNames(1000))] });
    pathTo(leaf, [], [root], Date.now()); // warm the code paths (and the memo: a second certificate is measured)
    const other = certificate({ subject: manyRdns(250), issuer: rootName, key: leafKeys.publicKey, signer: rootKeys.privateKey, serial: 3, extensions: [ext('2.5.29.17', dnsNames(1000))] });
    const { ms, value } = cpuMs(() => pathTo(other, [], [root], Date.now()));
    expect(value && 'path' in value ? value.path.map((c) => c.serialNumber) : value).toEqual(['03', root.serialNumber]);
    expect(ms, `${ms.toFixed(1)} ms of CPU`).toBeLessThan(100 * CPU_SCALE);
  });

  it('a forgery naming the partner root as issuer, signed by another key, with 1,000 RDNs: no path, within 100 ms of CPU', () => {
    const mallory = ec();
    const forged = certificate({ subject: manyRdns(1000), issuer: rootName, key: mallory.publicKey, signer: mallory.privateKey, serial: 4, extensions: [ext('2.5.29.17', dnsNames(1000))] });
    const { ms, value } = cpuMs(() => pathTo(forged, [], [root], Date.now()));
    expect(value).toBeNull();
    expect(ms, `${ms.toFixed(1)} ms of CPU`).toBeLessThan(100 * CPU_SCALE);
  });

  it(`refuses a leaf whose subjectAltName holds more than 1024 names, saying why`, () => {
    const leafKeys = ec();
    const leaf = certificate({ subject: name(['2.5.4.3', 'too many']), issuer: rootName, key: leafKeys.publicKey, signer: rootKeys.privateKey, serial: 5, extensions: [ext('2.5.29.17', dnsNames(1025))] });
    const r = pathTo(leaf, [], [root], Date.now());
    expect(r && 'refused' in r ? r.refused : r).toMatch(new RegExp(`cannot be read \\(subjectAltName holds more than 1024 names\\)`));
    // At the bound, read.
    const ok = certificate({ subject: name(['2.5.4.3', 'at the bound']), issuer: rootName, key: leafKeys.publicKey, signer: rootKeys.privateKey, serial: 6, extensions: [ext('2.5.29.17', dnsNames(1024))] });
    expect(pathTo(ok, [], [root], Date.now())).toHaveProperty('path');
  });

  it('honours the root’s nameConstraints read from DER: a dNSName outside the permitted subtree is refused, inside is accepted', () => {
    const caKeys = ec();
    const caName = name(['2.5.4.3', 'Constrained Root']);
    // permittedSubtrees [0] { GeneralSubtree { base dNSName "partner.example" } }
    const nc = seq(tlv(0xa0, [seq(tlv(0x82, Buffer.from('partner.example')))]));
    const ca = certificate({ subject: caName, issuer: caName, key: caKeys.publicKey, signer: caKeys.privateKey, extensions: [ext('2.5.29.19', seq(boolean(true)), true), ext('2.5.29.30', nc, true)] });
    const leafKeys = ec();
    const inside = certificate({ subject: name(['2.5.4.3', 'in']), issuer: caName, key: leafKeys.publicKey, signer: caKeys.privateKey, serial: 7, extensions: [ext('2.5.29.17', seq(tlv(0x82, Buffer.from('www.partner.example'))))] });
    const outside = certificate({ subject: name(['2.5.4.3', 'out']), issuer: caName, key: leafKeys.publicKey, signer: caKeys.privateKey, serial: 8, extensions: [ext('2.5.29.17', seq(tlv(0x82, Buffer.from('www.elsewhere.example'))))] });
    expect(pathTo(inside, [], [ca], Date.now())).toHaveProperty('path');
    const r = pathTo(outside, [], [ca], Date.now());
    expect(r && 'refused' in r ? r.refused : r).toMatch(/www\.elsewhere\.example.*nameConstraints/);
  });
});
