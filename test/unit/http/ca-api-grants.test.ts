import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config.js';
import { CaClientGrants } from '../../../src/http/ca-api-access.js';
import { tmp, writeTmp } from '../../helpers/openssl.js';

/** `ca.clients.allowedSubjects` as an operator writes it, and what each entry grants. */
describe('CA API client grants', () => {
  const load = (yaml: string) => loadConfig({ env: {}, file: writeTmp(tmp(), 'ca.yaml', `roles: [ca]\n${yaml}`) });

  it('keeps the plain list of DNs valid; each such client may sign and nothing else', () => {
    const c = load('ca:\n  clients:\n    allowedSubjects: ["CN=ces-1,O=Example"]\n');
    expect(c.ca.clients.allowedSubjects).toEqual(['CN=ces-1,O=Example']);
    const g = new CaClientGrants(c.ca.clients.allowedSubjects);
    expect([...g.of('CN=ces-1\nO=Example')!]).toEqual(['sign']);
  });

  it('takes {subject, operations} entries beside plain DNs; an entry without operations gets the default', () => {
    const c = load('ca:\n  clients:\n    allowedSubjects:\n      - CN=ces-1,O=Example\n      - subject: CN=admin-1,O=Example\n        operations: [sign, revoke, crl]\n      - subject: CN=ces-2\n');
    const g = new CaClientGrants(c.ca.clients.allowedSubjects);
    expect([...g.of('O=Example\nCN=admin-1')!].sort()).toEqual(['crl', 'revoke', 'sign']);
    expect([...g.of('CN=ces-2')!]).toEqual(['sign']);
    expect(g.of('CN=ces-3')).toBeUndefined();
  });

  it('refuses an unknown operation, an empty list and unknown keys, naming the key', () => {
    expect(() => load('ca:\n  clients:\n    allowedSubjects: [{subject: "CN=a-1", operations: [delete]}]\n')).toThrow(/ca\.clients\.allowedSubjects/);
    expect(() => load('ca:\n  clients:\n    allowedSubjects: [{subject: "CN=a-1", operations: []}]\n')).toThrow(/ca\.clients\.allowedSubjects/);
    expect(() => load('ca:\n  clients:\n    allowedSubjects: [{subject: "CN=a-1", ops: [sign]}]\n')).toThrow(/ca\.clients\.allowedSubjects/);
  });

  it('compares DNs whatever the attribute order and the case of attribute names, escaped commas kept', () => {
    const g = new CaClientGrants([{ subject: 'o=Example\\, Inc.,cn=admin-1', operations: ['revoke'] }]);
    expect([...g.of('CN=admin-1\nO=Example, Inc.')!]).toEqual(['revoke']);
    expect(g.of('CN=admin-1\nO=Example')).toBeUndefined();
  });

  it('refuses a subject listed twice (its two entries might grant different things)', () => {
    expect(() => new CaClientGrants(['CN=ces-1,O=Example', { subject: 'O=Example, CN=ces-1', operations: ['revoke'] }])).toThrow(/CN=ces-1.* is listed twice/);
  });

  it('the file under deploy/ is still valid', () => {
    const c = loadConfig({ env: {}, file: join(import.meta.dirname, '../../../deploy/ca.yaml'), flags: { roles: ['ca'] } });
    expect(c.ca.clients.allowedSubjects.length).toBeGreaterThan(0);
  });
});
