import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Agent } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postSoap } from '../helpers/soap-client.js';
import { tmp, writeTmp } from '../helpers/openssl.js';
import { opensslRootCa } from '../helpers/openssl-ca.js';
import { cepPath } from '../../src/http/endpoints.js';
import { buildGetPoliciesRequest } from '../../src/protocol/xcep/index.js';
import { parseFault } from '../../src/protocol/wstep/index.js';
import { runCli } from '../helpers/cli.js';


const cli = (args: string[]) => runCli(args);

/** The operator's side of partner revocation, through the `opences` command and a running server's control socket. */
describe('opences partner add --crl / partner crl / partner list', () => {
  let s: TestServer;
  const dir = tmp('partner-cli-');
  const root = opensslRootCa('cli Root');
  const issuing = root.subordinate('cli Issuing');
  const good = issuing.issue('good', { san: 'email:good@cli.test' });
  const bad = issuing.issue('bad', { san: 'email:bad@cli.test' });
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s?.stop());
  const dd = () => ['--data-dir', s.dataDir];
  const status = async (l: { certPem: string; keyPem: string }) => {
    const cep = `${s.url}${cepPath('Certificate')}`;
    const r = await postSoap(cep, buildGetPoliciesRequest({ to: cep }), new Agent({ connect: { ca: s.rootPem, cert: l.certPem + issuing.certPem, key: l.keyPem } }));
    return r.status === 200 ? 'ok' : parseFault(r.env!)?.reason;
  };

  it('loads a DER CRL at add time, a newer PEM CRL later, lists them, and the revocation takes effect', async () => {
    const first = writeTmp(dir, 'first.crl', issuing.crl().der);
    const add = await cli(['partner', 'add', 'cli', '--root', writeTmp(dir, 'root.pem', root.certPem), '--intermediate', writeTmp(dir, 'int.pem', issuing.certPem), '--map', 'email', '--template', 'WebServer', '--crl', first, '--crl-grace-hours', '1', ...dd()]);
    expect(add.code, add.err).toBe(0);
    expect(await status(bad)).toBe('ok');

    issuing.revoke(bad.certFile);
    const newer = writeTmp(dir, 'newer.crl', issuing.crl({ hours: 48 }).pem);
    const load = await cli(['partner', 'crl', 'cli', '--crl', newer, ...dd()]);
    expect(load.code, load.err).toBe(0);
    expect(load.out).toMatch(/loaded CRL from CN=cli Issuing, next update \d{4}-/);
    expect(await status(bad)).toBe('authentication failed');
    expect(await status(good)).toBe('ok');

    const list = JSON.parse((await cli(['partner', 'list', '--json', ...dd()])).out) as { name: string; intermediates: number; crlGraceHours: number; crlCheck: string; crls: { source: string; issuer: string }[] }[];
    expect(list).toEqual([expect.objectContaining({ name: 'cli', intermediates: 1, crlGraceHours: 1, crlCheck: 'leaf', crls: [expect.objectContaining({ source: 'file', issuer: 'CN=cli Issuing' })] })]);
    expect((await cli(['partner', 'list', ...dd()])).out).toMatch(/^cli\t1 root\(s\)\tmap email\tWebServer\t1 CRL\(s\)$/m);

    // The older CRL again: refused, it would un-revoke bad.
    const back = await cli(['partner', 'crl', 'cli', '--crl', first, ...dd()]);
    expect(back.code).toBe(1);
    expect(back.err).toMatch(/already has a newer CRL/);
    // Not a CRL at all.
    const junk = await cli(['partner', 'crl', 'cli', '--crl', writeTmp(dir, 'junk.crl', 'hello'), ...dd()]);
    expect(junk.code).toBe(1);
    expect(junk.err).toMatch(/not a CRL/);
  }, 180_000); // eight CLI processes, each starting TypeScript

  it('refuses a CRL URL that is not http(s)', async () => {
    const r = await cli(['partner', 'add', 'ldapcdp', '--root', join(dir, 'root.pem'), '--crl-url', 'ldap://dc1/CN=x?certificateRevocationList', ...dd()]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/only http and https distribution points are supported/);
  });
});
