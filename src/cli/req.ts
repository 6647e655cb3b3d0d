import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import type { Command } from 'commander';
import { pem } from '../ca/init.js';
import { EnrollmentClient, type EnrollResult } from '../client/enrollment-client.js';
import { EnrollmentDenied } from '../client/errors.js';
import { buildPkcs12 } from '../client/pkcs12.js';
import { buildCsr, newKeyPair, parseSan, parseSubject, type RequesterKeyType } from '../client/request-builder.js';
import { parseInf, type InfRequest } from '../client/inf.js';
import type { NameAttribute, SanEntry } from '../ca/types.js';
import { CLIENT_AUTH_LABEL, CLIENT_AUTH_VALUE, SoapTransport } from '../client/transport.js';
import { OpencesError } from '../errors.js';
import { decodeBase64Token } from '../protocol/pkcs10/base64.js';
import { parseCsr } from '../protocol/pkcs10/csr.js';
import { buildPkiData } from '../protocol/cmc/index.js';
import { EXIT } from './exit.js';

interface NetOpts {
  url: string;
  username?: string;
  passwordFile?: string;
  cert?: string;
  key?: string;
  caBundle?: string;
  kerberos?: boolean;
  json?: boolean;
}

function netOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--url <url>', 'service URL (CEP for policy/enroll, CES for submit/retrieve)')
    .option('--username <name>', 'user name for WS-Security UsernameToken (alice, alice@example.com, EXAMPLE\\alice)')
    .option('--password-file <file>', 'file whose first line is the password')
    .option('--cert <file>', 'TLS client certificate (PEM) for certificate authentication')
    .option('--key <file>', 'private key (PEM) of --cert')
    .option('--kerberos', 'HTTP Negotiate with your Kerberos ticket (KRB5CCNAME or the default cache after kinit); the URL must be a _Kerberos endpoint')
    .option('--ca-bundle <file>', 'PEM bundle that signs the server\'s TLS certificate (e.g. data/certs/root_ca.crt)')
    .option('--json', 'machine-readable output');
}

/** Writes a file atomically (temp + rename) with the given mode, so readers never see half a file. */
function writeAtomic(path: string, content: string | Uint8Array, mode = 0o644): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, path);
}

/** A request file: PEM (CERTIFICATE REQUEST or CMC) or DER; CMC is recognised by its label or structure. */
function readRequest(file: string): { der: Uint8Array; format: 'pkcs10' | 'cmc' } {
  const raw = readFileSync(file);
  const text = raw.toString('latin1');
  const der = text.includes('-----BEGIN') ? decodeBase64Token(text, 'certificate request') : new Uint8Array(raw);
  if (text.includes('-----BEGIN CMC-----')) return { der, format: 'cmc' };
  try {
    parseCsr(der);
    return { der, format: 'pkcs10' };
  } catch {
    return { der, format: 'cmc' };
  }
}

function out(json: boolean | undefined, value: unknown, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human}\n`);
}

/** Prints the outcome the way certreq reports dispositions, and returns the exit code. */
function report(r: EnrollResult, json: boolean | undefined, certOut?: string): number {
  if (r.status === 'pending') {
    out(json, { status: 'pending', requestId: r.requestId, message: r.message }, `Request ${r.requestId} is pending (${r.message ?? 'Taken Under Submission'}): a CA manager must approve it. Then run: opences req retrieve --url … ${r.requestId}`);
    return EXIT.pending;
  }
  const certPem = pem(r.certificate);
  if (certOut) writeAtomic(certOut, certPem + r.chain.map((c) => pem(c)).join(''));
  const subject = new X509Certificate(Buffer.from(r.certificate)).subject.replace(/\n/g, ', ');
  out(json, { status: 'issued', requestId: r.requestId, subject, certificate: certPem }, certOut ? `Issued (request ${r.requestId}): ${subject} → ${certOut}` : certPem.trimEnd());
  return EXIT.ok;
}

async function withClient<T>(o: NetOpts, fn: (c: EnrollmentClient, t: SoapTransport) => Promise<T>): Promise<T> {
  const t = SoapTransport.fromFiles({ username: o.username, passwordFile: o.passwordFile, certFile: o.cert, keyFile: o.key, caBundle: o.caBundle, kerberos: o.kerberos });
  try {
    return await fn(new EnrollmentClient(t), t);
  } finally {
    await t.close();
  }
}

async function run(fn: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await fn();
  } catch (e) {
    if (e instanceof EnrollmentDenied) {
      process.stderr.write(`opences: denied${e.requestId ? ` (request ${e.requestId})` : ''}: ${e.message}${e.errorCode !== undefined ? ` [0x${(e.errorCode >>> 0).toString(16)}]` : ''}\n`);
      process.exitCode = EXIT.denied;
      return;
    }
    process.stderr.write(`opences: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = EXIT.error;
  }
}

function readPassphrase(file?: string): string | undefined {
  if (!file) return undefined;
  const p = readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? '';
  if (p.length < 8) throw new OpencesError('malformed', `the passphrase in ${file} is shorter than 8 characters`);
  return p;
}

/** Reads a private key written by `req new`, encrypted or not. */
function readKey(file: string, passphraseFile?: string): KeyObject {
  const text = readFileSync(file, 'utf8');
  const passphrase = readPassphrase(passphraseFile);
  if (text.includes('ENCRYPTED') && !passphrase) throw new OpencesError('malformed', `${file} is encrypted: give --key-passphrase-file`);
  try {
    return createPrivateKey(passphrase ? { key: text, passphrase } : text);
  } catch {
    throw new OpencesError('malformed', `cannot read the private key ${file}${passphrase ? ' (wrong passphrase?)' : ''}`);
  }
}

interface PfxOpts {
  pfxOut?: string;
  pfxPasswordFile?: string;
  pfxNoPassword?: boolean;
}

function pfxOptions(cmd: Command): Command {
  return cmd
    .option('--pfx-out <file>', 'also write key, certificate and chain as PKCS#12 (AES-256-CBC, PBKDF2/HMAC-SHA256, SHA-256 MAC; mode 0600)')
    .option('--pfx-password-file <file>', 'file whose first line is the PKCS#12 password')
    .option('--pfx-no-password', 'write the PKCS#12 without any protection (key in the clear)');
}

/** The PKCS#12 password, checked before anything else happens: null for --pfx-no-password. */
function pfxPassword(o: PfxOpts): string | null | undefined {
  if (!o.pfxOut) {
    if (o.pfxPasswordFile || o.pfxNoPassword) throw new OpencesError('malformed', '--pfx-password-file and --pfx-no-password go with --pfx-out');
    return undefined;
  }
  if (o.pfxPasswordFile && o.pfxNoPassword) throw new OpencesError('malformed', 'give --pfx-password-file or --pfx-no-password, not both');
  if (o.pfxNoPassword) return null;
  if (!o.pfxPasswordFile) throw new OpencesError('malformed', `--pfx-out ${o.pfxOut} needs a password: give --pfx-password-file FILE (or --pfx-no-password to leave the key unprotected)`);
  const p = readFileSync(o.pfxPasswordFile, 'utf8').split(/\r?\n/)[0] ?? '';
  if (!p) throw new OpencesError('malformed', `${o.pfxPasswordFile} holds no password on its first line`);
  return p;
}

async function writePfx(file: string, password: string | null, privateKey: KeyObject, certificate: Uint8Array, chain: Uint8Array[]): Promise<void> {
  const friendlyName = new X509Certificate(Buffer.from(certificate)).subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3);
  writeAtomic(file, await buildPkcs12({ privateKey, certificate, chain, password, friendlyName }), 0o600);
}

/** Every certificate in a PEM file (or the one DER certificate it holds). */
function readCertificates(file: string): Uint8Array[] {
  const raw = readFileSync(file);
  const text = raw.toString('latin1');
  if (!text.includes('-----BEGIN')) return [new Uint8Array(new X509Certificate(raw).raw)];
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) throw new OpencesError('malformed', `${file} holds no certificate`);
  return blocks.map((b) => new Uint8Array(new X509Certificate(b).raw));
}

/** The request to make: from an INF file (certreq style) and the flags, flags winning. */
interface RequestSpec {
  template?: string;
  subject: NameAttribute[];
  sans: SanEntry[];
  keyType: RequesterKeyType;
  format: 'pkcs10' | 'cmc';
}

interface RequestFlags {
  inf?: string;
  template?: string;
  subject?: string;
  san: string[];
  keyType?: string;
  format?: string;
}

/** Reads an INF file as certreq does: UTF-16 (with BOM, as Notepad saves it) or UTF-8. */
function readInf(file: string): InfRequest {
  const raw = readFileSync(file);
  const text = raw[0] === 0xff && raw[1] === 0xfe ? raw.subarray(2).toString('utf16le') : raw.toString('utf8');
  return parseInf(text, file);
}

function resolveRequest(o: RequestFlags): RequestSpec {
  if (o.keyType !== undefined && !KEY_TYPES.includes(o.keyType)) throw new OpencesError('malformed', `--key-type must be one of ${KEY_TYPES.join(', ')}`);
  if (o.format !== undefined && !['pkcs10', 'cmc'].includes(o.format)) throw new OpencesError('malformed', '--format must be pkcs10 or cmc');
  const inf = o.inf ? readInf(o.inf) : undefined;
  // What the file says that we do not do is said once, on stderr, so it is never a surprise.
  for (const n of inf?.notes ?? []) process.stderr.write(`opences: note: ${n}\n`);
  return {
    template: o.template ?? inf?.template,
    subject: o.subject !== undefined ? parseSubject(o.subject) : (inf?.subject ?? []),
    sans: o.san.length ? o.san.map(parseSan) : (inf?.sans ?? []),
    keyType: (o.keyType ?? inf?.keyType ?? 'P-256') as RequesterKeyType,
    format: (o.format ?? inf?.format ?? 'pkcs10') as 'pkcs10' | 'cmc',
  };
}

async function newRequest(spec: RequestSpec, o: { keyOut: string; csrOut?: string; keyPassphraseFile?: string }): Promise<{ csrDer: Uint8Array; requestDer: Uint8Array; format: 'pkcs10' | 'cmc'; privateKey: KeyObject }> {
  const passphrase = readPassphrase(o.keyPassphraseFile);
  const { privateKey, publicKey } = await newKeyPair(spec.keyType);
  const csrDer = buildCsr({ privateKey, publicKey, subject: spec.subject, sans: spec.sans, template: spec.template });
  // The key is written here, 0600 (AES-256 encrypted with a passphrase when asked), and goes nowhere else.
  const keyPem = passphrase
    ? privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }).toString()
    : privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  writeAtomic(o.keyOut, keyPem, 0o600);
  const format = spec.format;
  const requestDer = format === 'cmc' ? buildPkiData({ csrDer, nameValuePairs: spec.template ? { CertificateTemplate: spec.template } : {} }) : csrDer;
  if (o.csrOut) writeAtomic(o.csrOut, pem(requestDer, format === 'cmc' ? 'CMC' : 'CERTIFICATE REQUEST'));
  return { csrDer, requestDer, format, privateKey };
}

const collect = (v: string, acc: string[]): string[] => [...acc, v];
const KEY_TYPES = ['RSA-2048', 'RSA-3072', 'RSA-4096', 'P-256', 'P-384'];

export function registerRequesterCommands(program: Command): void {
  const req = program.command('req').description('requester side, certreq-style: keys are made here and never leave this machine; exit 0 issued, 3 pending, 2 denied, 1 error');

  netOptions(req.command('policy').description('list the templates a CEP server lets you enroll for')).action((o: NetOpts) =>
    run(async () => {
      const { templates } = await withClient(o, (c) => c.getPolicies(o.url));
      out(o.json, templates, templates.map((t) => `${t.name}\t${t.enroll ? 'enroll' : ''}${t.autoEnroll ? ' autoenroll' : ''}\t${t.enrollmentUrls.map((u) => u.uri).join(' ')}`).join('\n') || '(no templates for this caller)');
      return EXIT.ok;
    }),
  );

  req
    .command('new')
    .description('make a key pair and a PKCS#10 (or CMC) request for a template, from flags and/or a certreq INF file')
    .option('--inf <file>', 'certreq-style INF request file ([NewRequest], [Extensions], [RequestAttributes]); flags override it')
    .option('--template <name>', 'certificate template')
    .option('--subject <dn>', 'subject, e.g. "CN=www.example.com,O=Example"')
    .option('--san <type:value>', 'subject alternative name: dns:, ip:, email:, upn:, uri: (repeatable; replaces the INF file\'s)', collect, [] as string[])
    .option('--key-type <type>', `one of ${KEY_TYPES.join(', ')} (default P-256; with --inf, the file's KeyAlgorithm/KeyLength, RSA-2048 if absent)`)
    .requiredOption('--key-out <file>', 'where to write the private key (PEM, mode 0600)')
    .requiredOption('--csr-out <file>', 'where to write the request (PEM)')
    .option('--format <format>', 'pkcs10 or cmc (a CMC PKIData naming the template); default pkcs10 or the INF RequestType')
    .option('--key-passphrase-file <file>', 'encrypt the private key with the passphrase in this file (AES-256)')
    .action((o: RequestFlags & { keyOut: string; csrOut: string; keyPassphraseFile?: string }) =>
      run(async () => {
        await newRequest(resolveRequest(o), o);
        process.stdout.write(`wrote ${o.keyOut} (private key, 0600) and ${o.csrOut}\n`);
        return EXIT.ok;
      }),
    );

  netOptions(req.command('submit').description('send a request (PKCS#10/CMC/PKCS#7, PEM or DER) to a CES server').argument('<request>'))
    .option('--template <name>', 'template to name in AdditionalContext (if the request does not)')
    .option('--cert-out <file>', 'where to write the issued certificate and chain (PEM)')
    .action((file: string, o: NetOpts & { template?: string; certOut?: string }) =>
      run(async () => {
        const { der, format } = readRequest(file);
        const r = await withClient(o, (c) => c.issue(o.url, { format, der, template: o.template }));
        return report(r, o.json, o.certOut);
      }),
    );

  netOptions(req.command('retrieve').description('ask a CES server for a request by its ID (after approval)').argument('<requestId>'))
    .option('--cert-out <file>', 'where to write the certificate and chain (PEM)')
    .action((id: string, o: NetOpts & { certOut?: string }) =>
      run(async () => report(await withClient(o, (c) => c.queryStatus(o.url, id)), o.json, o.certOut)),
    );

  pfxOptions(
    req
      .command('accept')
      .description('check that a certificate belongs to a key, and install it (PEM, or PKCS#12 with --pfx-out)')
      .argument('<certificate>', 'the certificate, optionally followed by its chain (PEM), as submit/retrieve/enroll write it')
      .requiredOption('--key <file>', 'the private key made by `req new`')
      .option('--key-passphrase-file <file>', 'passphrase of an encrypted key')
      .option('--chain <file>', 'CA certificates (PEM) to include in the PKCS#12, if not already after the certificate')
      .option('--cert-out <file>', 'where to write the certificate (PEM)'),
  ).action((file: string, o: PfxOpts & { key: string; keyPassphraseFile?: string; chain?: string; certOut?: string }) =>
    run(async () => {
      const password = pfxPassword(o);
      const certs = readCertificates(file);
      const key = readKey(o.key, o.keyPassphraseFile);
      const mine = Buffer.from(createPublicKey(key).export({ type: 'spki', format: 'der' }));
      const leaf = certs.find((c) => mine.equals(Buffer.from(new X509Certificate(Buffer.from(c)).publicKey.export({ type: 'spki', format: 'der' }))));
      if (!leaf) throw new OpencesError('malformed', `the certificate ${file} is for another key than ${o.key}`);
      if (o.certOut) writeAtomic(o.certOut, pem(leaf));
      if (o.pfxOut && password !== undefined) {
        const chain = [...certs.filter((c) => c !== leaf), ...(o.chain ? readCertificates(o.chain) : [])];
        await writePfx(o.pfxOut, password, key, leaf, chain);
      }
      process.stdout.write(`certificate matches ${o.key}${o.certOut ? `; installed as ${o.certOut}` : ''}${o.pfxOut ? `; PKCS#12 written to ${o.pfxOut} (0600${password === null ? ', NOT password-protected' : ''})` : ''}\n`);
      return EXIT.ok;
    }),
  );

  pfxOptions(netOptions(req.command('enroll').description('policy → new → submit → accept in one step, against a CEP URL')))
    .option('--inf <file>', 'certreq-style INF request file (template, subject, SANs, key); flags override it')
    .option('--template <name>', 'certificate template (required unless the INF file names one)')
    .option('--subject <dn>', 'subject (when the template lets you supply it)')
    .option('--san <type:value>', 'subject alternative name (repeatable)', collect, [] as string[])
    .option('--key-type <type>', `one of ${KEY_TYPES.join(', ')} (default P-256, or the INF file's)`)
    .option('--format <format>', 'pkcs10 or cmc; default pkcs10 or the INF RequestType')
    .requiredOption('--key-out <file>', 'where to write the private key (PEM, 0600)')
    .option('--key-passphrase-file <file>', 'encrypt the private key with the passphrase in this file (AES-256)')
    .requiredOption('--cert-out <file>', 'where to write the certificate and chain (PEM)')
    .action((o: NetOpts & PfxOpts & RequestFlags & { keyOut: string; keyPassphraseFile?: string; certOut: string }) =>
      run(async () => {
        const password = pfxPassword(o);
        const spec = resolveRequest(o);
        const wanted = spec.template;
        if (!wanted) throw new OpencesError('malformed', `give --template${o.inf ? `, or CertificateTemplate under [RequestAttributes] in ${o.inf}` : ''}`);
        return withClient(o, async (c, transport) => {
          const { templates } = await c.getPolicies(o.url);
          const t = templates.find((x) => x.name.toLowerCase() === wanted.toLowerCase());
          if (!t) throw new OpencesError('templateNotFound', `${o.url} offers no template "${wanted}" to you (available: ${templates.map((x) => x.name).join(', ') || 'none'})`);
          const want = CLIENT_AUTH_VALUE[transport.authKind];
          const ces = t.enrollmentUrls.find((u) => u.clientAuthentication === want && !u.renewalOnly);
          if (!ces) throw new OpencesError('unavailable', `${o.url} lists no enrollment URL for ${t.name} that accepts ${CLIENT_AUTH_LABEL[transport.authKind]} authentication (it offers: ${t.enrollmentUrls.map((u) => `${u.uri} [${u.clientAuthentication}]`).join(', ') || 'none'})`);
          const { requestDer, format, privateKey } = await newRequest({ ...spec, template: t.name }, o);
          const r = await c.issue(ces.uri, { format, der: requestDer });
          if (r.status === 'issued' && o.pfxOut && password !== undefined) await writePfx(o.pfxOut, password, privateKey, r.certificate, r.chain);
          return report(r, o.json, o.certOut);
        });
      }),
    );
}
