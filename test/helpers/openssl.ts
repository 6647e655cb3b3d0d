import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tmp(prefix = 'opences-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function openssl(args: string[], input?: string | Buffer): string {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] }).toString('utf8');
}

/** Runs openssl and returns exit status and combined output instead of throwing. */
export function opensslStatus(args: string[]): { code: number; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { code: r.status ?? 1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

export function pemOf(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export interface CsrOptions {
  key?: 'rsa:2048' | 'rsa:1024' | 'rsa:3072' | 'ec:P-256' | 'ec:P-384' | 'dsa';
  subject?: string;
  sans?: string[];
  /** Put the template name in the MS certificate-template-name extension (1.3.6.1.4.1.311.20.2), as certmonger and cepces do. */
  templateName?: string;
}

export interface Csr {
  csrPem: string;
  csrDer: Buffer;
  keyPem: string;
  keyFile: string;
  dir: string;
}

/** A CSR from the openssl command line, the way an administrator would make one. */
export function makeCsr(o: CsrOptions = {}): Csr {
  const dir = tmp('opences-csr-');
  const keyFile = join(dir, 'key.pem');
  const key = o.key ?? 'ec:P-256';
  if (key.startsWith('ec:')) openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${key.slice(3)}`, '-out', keyFile]);
  else if (key === 'dsa') {
    openssl(['genpkey', '-genparam', '-algorithm', 'DSA', '-pkeyopt', 'dsa_paramgen_bits:2048', '-out', join(dir, 'dsa.param')]);
    openssl(['genpkey', '-paramfile', join(dir, 'dsa.param'), '-out', keyFile]);
  } else openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${key.slice(4)}`, '-out', keyFile]);
  const ext: string[] = [];
  if (o.sans?.length) ext.push(`subjectAltName=${o.sans.join(',')}`);
  if (o.templateName) ext.push(`1.3.6.1.4.1.311.20.2=ASN1:BMPSTRING:${o.templateName}`);
  const cnf = join(dir, 'req.cnf');
  writeFileSync(cnf, `[req]\ndistinguished_name=dn\nprompt=no\n${ext.length ? 'req_extensions=ext\n' : ''}[dn]\n${(o.subject ?? 'CN=test.example.test').split('/').filter(Boolean).join('\n')}\n[ext]\n${ext.join('\n')}\n`);
  const csrFile = join(dir, 'req.pem');
  openssl(['req', '-new', '-key', keyFile, '-config', cnf, '-out', csrFile, ...(key === 'dsa' ? ['-sha256'] : [])]);
  const csrPem = readFileSync(csrFile, 'utf8');
  const csrDer = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  return { csrPem, csrDer, keyPem: readFileSync(keyFile, 'utf8'), keyFile, dir };
}

export function writeTmp(dir: string, name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

/** Async openssl for talking to an in-process server (a sync spawn would block its event loop). */
export function opensslAsync(args: string[], input = ''): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => p.kill(), 15_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? 1, out });
    });
    p.stdin.end(input);
  });
}
