import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Drives cepces (github.com/openSUSE/cepces, the certmonger helper) from a checkout named by
 * CEPCES_SRC. Its code never enters this repository; this only runs it against our server.
 */
export function cepcesSource(): string {
  const src = process.env.CEPCES_SRC;
  if (!src) throw new Error('CEPCES_SRC is not set: point it at a checkout of github.com/openSUSE/cepces (tag v0.3.17) to run the interop tests');
  if (!existsSync(join(src, 'bin', 'cepces-submit')) || !existsSync(join(src, 'src', 'cepces'))) throw new Error(`CEPCES_SRC=${src} is not a cepces checkout (bin/cepces-submit and src/cepces missing)`);
  return src;
}

/** certmonger helper result codes (cepces/certmonger/core.py). */
export const CERTMONGER = { ISSUED: 0, WAIT: 1, REJECTED: 2, CONNECTERROR: 3, UNDERCONFIGURED: 4, WAITMORE: 5, UNSUPPORTED: 6 } as const;

export interface CepcesRun {
  operation: 'GET-SUPPORTED-TEMPLATES' | 'SUBMIT' | 'POLL' | 'FETCH-ROOTS' | 'IDENTIFY';
  /** https://host:port */
  server: string;
  auth: 'UsernamePassword' | 'Kerberos' | 'Certificate';
  username?: string;
  password?: string;
  certFile?: string;
  keyFile?: string;
  caBundle: string;
  csrPem?: string;
  cookie?: string;
  env?: Record<string, string>;
  /** For auth=Kerberos: a client keytab, the principal in it, and the realm. */
  kerberos?: { keytab: string; principal: string; realm: string };
}

const SHIM = join(dirname(fileURLToPath(import.meta.url)), 'py');

export function runCepces(o: CepcesRun): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const src = cepcesSource();
  const dir = mkdtempSync(join(tmpdir(), 'cepces-'));
  const lines = [
    '[global]',
    `server=${new URL(o.server).host}`,
    'type=Policy',
    `auth=${o.auth}`,
    `endpoint=${o.server}/ADPolicyProvider_CEP_${o.auth}/service.svc/CEP`,
    `cas=${o.caBundle}`,
    'poll_interval=60',
    'openssl_ciphers=',
    '[kerberos]',
    'ccache=True',
    // cepces reads its config with ExtendedInterpolation: a computer's `NAME$` is written `NAME$$`.
    `principals=${(o.kerberos?.principal ?? '').replace(/\$/g, '$$$$')}`,
    ...(o.kerberos ? [`keytab=${o.kerberos.keytab}`, `realm=${o.kerberos.realm}`] : []),
    'enctypes=aes256-cts-hmac-sha1-96',
    'delegate=False',
    '[usernamepassword]',
    `username=${o.username ?? ''}`,
    `password=${(o.password ?? '').replace(/\$/g, '$$$$')}`,
    '[certificate]',
    `certfile=${o.certFile ?? ''}`,
    `keyfile=${o.keyFile ?? ''}`,
  ];
  writeFileSync(join(dir, 'cepces.conf'), lines.join('\n') + '\n');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    PYTHONPATH: [join(src, 'src'), SHIM].join(':'),
    REQUESTS_CA_BUNDLE: o.caBundle,
    CERTMONGER_OPERATION: o.operation,
    ...(o.csrPem ? { CERTMONGER_CSR: o.csrPem } : {}),
    ...(o.cookie ? { CERTMONGER_CA_COOKIE: o.cookie } : {}),
    ...(o.env ?? {}),
  };
  return new Promise((resolve) => {
    // Debian's python3 has the python3-requests/-cryptography/-gssapi packages cepces needs.
    const p = spawn(process.env.CEPCES_PYTHON ?? '/usr/bin/python3', [join(src, 'bin', 'cepces-submit')], { cwd: dir, env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ exitCode: code ?? -1, stdout, stderr });
    });
  });
}
