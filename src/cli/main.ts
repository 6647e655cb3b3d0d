#!/usr/bin/env node
import 'reflect-metadata';
import { Command, Option } from 'commander';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { addCommonOptions, configFrom, print, type CommonOptions } from './common.js';
import { operate } from './operator.js';
import { fail } from './exit.js';
import { serveCommand } from './serve.js';
import { registerRequesterCommands } from './req.js';
import { registerAutoenroll } from './autoenroll.js';
import { registerCaCommands } from './ca.js';
import { registerDbCommands } from './db.js';
import { parseCheckpoints, toJson } from '../audit/checkpoint.js';
import { tailOf } from '../audit/checkpointer.js';

const program = new Command();
program
  .name('opences')
  .description('open Certificate Enrollment Services: MS-XCEP policy and MS-WSTEP enrollment server with its own CA')
  .version('0.1.0')
  .showHelpAfterError();

serveCommand(program);

function opCommand(parent: Command, name: string, description: string): Command {
  return addCommonOptions(parent.command(name).description(description)).option('--json', 'machine-readable output');
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

type Opts = CommonOptions & Record<string, unknown>;
const run = <A extends unknown[]>(fn: (...a: A) => Promise<void>) => (...a: A): Promise<void> => fn(...a).catch(fail);

// --- accounts
const user = program.command('user').description('local accounts for UsernameToken authentication');
opCommand(user, 'add', 'create a local account')
  .argument('<name>', 'account name (users sign in as NAME, NAME@domain or DOMAIN\\NAME)')
  .option('--group <group>', 'group membership (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--email <address>', 'e-mail address (used by identity-built subjects)')
  .option('--password-stdin', 'read the password from standard input (first line)')
  .action(run(async (name: string, opts: Opts) => {
    const password = opts.passwordStdin ? (await readStdin()).split(/\r?\n/)[0] : undefined;
    if (opts.passwordStdin && !password) throw new Error('no password on standard input');
    const r = await operate(configFrom(opts), 'user.add', { name, password, groups: opts.group, email: opts.email });
    print(opts.json, r, () => `account ${name} created${password ? '' : ' (no password: it cannot sign in until one is set)'}`);
  }));
opCommand(user, 'passwd', "set a local account's password (the old one stops working at once)")
  .argument('<name>', 'account name')
  .option('--password-stdin', 'read the new password from standard input (first line); required')
  .addHelpText('after', "\nThe password is never taken from the command line (it would show in ps and the shell history):\n  printf '%s\\n' \"$NEW_PASSWORD\" | opences user passwd alice --password-stdin")
  .action(run(async (name: string, opts: Opts) => {
    // Never prompts: refuse at once, so a script without --password-stdin fails instead of hanging.
    if (!opts.passwordStdin) throw new Error('--password-stdin is required: the new password is read from standard input only (… | opences user passwd NAME --password-stdin)');
    const password = (await readStdin()).split(/\r?\n/)[0];
    if (!password) throw new Error('no password on standard input');
    const r = await operate(configFrom(opts), 'user.passwd', { name, password });
    print(opts.json, r, () => `password of account ${name} changed`);
  }));
opCommand(user, 'list', 'list local accounts').action(run(async (opts: Opts) => {
  const r = (await operate(configFrom(opts), 'user.list', {})) as { name: string; groups: string[]; disabled: boolean }[];
  print(opts.json, r, () => r.map((u) => `${u.name}\t${u.groups.join(',')}${u.disabled ? '\t(disabled)' : ''}`).join('\n') || '(no accounts)');
}));
opCommand(user, 'disable', 'disable a local account').argument('<name>').action(run(async (name: string, opts: Opts) => {
  const r = await operate(configFrom(opts), 'user.disable', { name });
  print(opts.json, r, () => `account ${name} disabled`);
}));
opCommand(user, 'enable', 'enable a disabled local account').argument('<name>').action(run(async (name: string, opts: Opts) => {
  const r = await operate(configFrom(opts), 'user.enable', { name });
  print(opts.json, r, () => `account ${name} enabled`);
}));
opCommand(user, 'groups', "replace an account's groups").argument('<name>')
  .option('--group <group>', 'group membership (repeatable; none clears)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .action(run(async (name: string, opts: Opts) => {
    const r = (await operate(configFrom(opts), 'user.groups', { name, groups: opts.group })) as { groups: string[] };
    print(opts.json, r, () => `account ${name}: ${r.groups.join(', ') || '(no groups)'}`);
  }));

// --- templates
const template = program.command('template').description('certificate templates (policy as code)');
opCommand(template, 'list', 'list templates').action(run(async (opts: Opts) => {
  const r = (await operate(configFrom(opts), 'template.list', {})) as { name: string; displayName: string; oid: string; enabled: boolean; pendAllRequests: boolean }[];
  print(opts.json, r, () => r.map((t) => `${t.name}\t${t.enabled ? 'enabled' : 'disabled'}\t${t.pendAllRequests ? 'approval' : 'auto'}\t${t.oid}\t${t.displayName}`).join('\n'));
}));
opCommand(template, 'show', 'show one template as YAML').argument('<name>').action(run(async (name: string, opts: Opts) => {
  const r = (await operate(configFrom(opts), 'template.show', { name })) as { yaml: string };
  print(opts.json, r, () => r.yaml.trimEnd());
}));
opCommand(template, 'export', 'write templates as YAML (to FILE or standard output)').argument('[file]').option('--name <name>', 'only this template (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .action(run(async (file: string | undefined, opts: Opts) => {
    const r = (await operate(configFrom(opts), 'template.export', { names: opts.name })) as { yaml: string };
    if (file) writeFileSync(file, r.yaml);
    else process.stdout.write(r.yaml);
  }));
opCommand(template, 'import', 'create or replace templates from a YAML file (validated; unknown keys refused; unsafe shapes refused unless their risk is accepted)')
  .argument('<file>')
  .option('--accept-risk <id>', 'store a template the safety lint flags with this finding (ESC1, ESC2, …; repeatable; audited)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .action(run(async (file: string, opts: Opts) => {
    const r = (await operate(configFrom(opts), 'template.import', { yaml: readFileSync(file, 'utf8'), acceptRisk: opts.acceptRisk })) as { imported: string[] };
    print(opts.json, r, () => `imported ${r.imported.join(', ')}`);
  }));
opCommand(template, 'lint', 'check templates for the ADCS attack shapes (ESC1, ESC2, ESC3, ESC9, ESC13, ESC15): a stored template by NAME, a YAML FILE, or all stored ones; exit 2 when any is found')
  .argument('[nameOrFile]')
  .action(run(async (target: string | undefined, opts: Opts) => {
    const args = target === undefined ? {} : existsSync(target) && /\.ya?ml$/i.test(target) ? { yaml: readFileSync(target, 'utf8') } : { name: target };
    const r = (await operate(configFrom(opts), 'template.lint', args)) as { templates: string[]; findings: { id: string; template: string; reason: string; fix: string }[] };
    print(opts.json, r, () => (r.findings.length ? r.findings.map((f) => `${f.template}: ${f.id}: ${f.reason}\n  fix: ${f.fix}`).join('\n') : `no findings in ${r.templates.join(', ') || 'no templates'}`));
    if (r.findings.length) process.exitCode = 2;
  }));
opCommand(template, 'delete', 'delete a template (refused while requests for it are pending; disable it instead)').argument('<name>').action(run(async (name: string, opts: Opts) => {
  const r = await operate(configFrom(opts), 'template.delete', { name });
  print(opts.json, r, () => `template ${name} deleted`);
}));
for (const verb of ['enable', 'disable'] as const) {
  opCommand(template, verb, `${verb} a template`).argument('<name>').action(run(async (name: string, opts: Opts) => {
    const r = await operate(configFrom(opts), `template.${verb}`, { name });
    print(opts.json, r, () => `template ${name} ${verb}d`);
  }));
}

// --- requests
const request = program.command('request').description('enrollment requests (certificate manager)');
opCommand(request, 'list', 'list requests').addOption(new Option('--status <status>', 'filter by status').choices(['pending', 'issued', 'denied', 'failed'])).option('--requester <name>').option('--template <name>')
  .action(run(async (opts: Opts) => {
    const r = (await operate(configFrom(opts), 'request.list', { status: opts.status, requester: opts.requester, template: opts.template })) as { id: string; status: string; requester: string; template: string | null; submittedAt: string; message: string }[];
    print(opts.json, r, () => r.map((x) => `${x.id}\t${x.status}\t${x.requester}\t${x.template ?? '-'}\t${x.submittedAt}\t${x.message}`).join('\n') || '(no requests)');
  }));
opCommand(request, 'show', 'show one request').argument('<id>').action(run(async (id: string, opts: Opts) => {
  const r = await operate(configFrom(opts), 'request.show', { id });
  print(true, r, () => '');
}));
opCommand(request, 'approve', 'approve a pending request: the CA issues it').argument('<id>').action(run(async (id: string, opts: Opts) => {
  const r = (await operate(configFrom(opts), 'request.approve', { id })) as { serial: string };
  print(opts.json, r, () => `request ${id} approved; certificate ${r.serial} issued`);
}));
opCommand(request, 'deny', 'deny a pending request').argument('<id>').option('--reason <text>', 'reason given to the requester', '').action(run(async (id: string, opts: Opts) => {
  const r = await operate(configFrom(opts), 'request.deny', { id, reason: opts.reason });
  print(opts.json, r, () => `request ${id} denied`);
}));

// --- certificates
const cert = program.command('cert').description('issued certificates');
opCommand(cert, 'list', 'list or search issued certificates').option('--requester <name>').option('--template <name>').option('--search <text>', 'subject, SAN or serial contains').option('--revoked', 'only revoked certificates')
  .action(run(async (opts: Opts) => {
    const r = (await operate(configFrom(opts), 'cert.list', { requester: opts.requester, template: opts.template, text: opts.search, revoked: opts.revoked ? true : undefined })) as { serial: string; subject: string; template: string | null; notAfter: string; revokedAt: string | null }[];
    print(opts.json, r, () => r.map((c) => `${c.serial}\t${c.subject}\t${c.template ?? '-'}\t${c.notAfter}${c.revokedAt ? '\trevoked' : ''}`).join('\n') || '(no certificates)');
  }));
opCommand(cert, 'show', 'show one certificate (with PEM)').argument('<serial>').action(run(async (serial: string, opts: Opts) => {
  const r = (await operate(configFrom(opts), 'cert.show', { serial })) as { pem: string };
  print(opts.json, r, () => `${JSON.stringify({ ...r, pem: undefined }, null, 2)}\n${r.pem}`);
}));
opCommand(cert, 'revoke', 'revoke a certificate (it appears in the next CRL; `opences crl publish` for now)').argument('<serial>')
  .addOption(new Option('--reason <reason>', 'RFC 5280 reason').choices(['unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn', 'aACompromise']).default('unspecified'))
  .action(run(async (serial: string, opts: Opts) => {
    const r = await operate(configFrom(opts), 'cert.revoke', { serial, reason: opts.reason });
    print(opts.json, r, () => `certificate ${serial} revoked (${String(opts.reason)})`);
  }));
opCommand(cert, 'unrevoke', 'release a certificate from certificateHold').argument('<serial>').action(run(async (serial: string, opts: Opts) => {
  const r = await operate(configFrom(opts), 'cert.unrevoke', { serial });
  print(opts.json, r, () => `certificate ${serial} released from hold`);
}));

// --- CRL
const crl = program.command('crl').description('certificate revocation lists');
opCommand(crl, 'publish', 'publish a new CRL now').option('--delta', 'publish a delta CRL').action(run(async (opts: Opts) => {
  const r = (await operate(configFrom(opts), 'crl.publish', { delta: opts.delta === true })) as { url: string; bytes: number };
  print(opts.json, r, () => `CRL published (${r.bytes} bytes) at ${r.url}`);
}));

// --- audit
const audit = program.command('audit').description('the hash-chained audit log');
opCommand(audit, 'verify', 'check the audit chain and its signed checkpoints: changed, removed, reordered and cut-off events are reported')
  .option('--checkpoint <file>', 'also verify against a checkpoint kept elsewhere (a copy of the file sink or of /pki/audit/checkpoint.json)')
  .action(run(async (opts: Opts) => {
  const file = typeof opts.checkpoint === 'string' ? opts.checkpoint : undefined;
  // Only the newest checkpoint of the file travels (the control socket need not carry a whole sink).
  const kept = file ? parseCheckpoints(tailOf(file), file) : null;
  if (file && !kept) throw new Error(`${file} holds no audit checkpoint`);
  const args = kept ? { checkpoint: toJson(kept), checkpointName: file } : {};
  const r = (await operate(configFrom(opts), 'audit.verify', args)) as { ok: boolean; count?: number; firstBrokenSeq?: number; reason?: string; checkpoint?: { seq: number; at: string; source: string } | null };
  const against = r.checkpoint ? ` (checkpoint of event ${r.checkpoint.seq}, ${r.checkpoint.at}, from ${r.checkpoint.source})` : ' (no signed checkpoint yet)';
  print(opts.json, r, () => (r.ok ? `audit log intact: ${r.count} events${against}` : `audit log BROKEN at event ${r.firstBrokenSeq}: ${r.reason}`));
  if (!r.ok) process.exit(1);
  }));


opCommand(audit, 'export', 'write the audit log as JSON lines (oldest first) for a SIEM').argument('[file]').action(run(async (file: string | undefined, opts: Opts) => {
  const r = (await operate(configFrom(opts), 'audit.export', {})) as { count: number; jsonl: string };
  if (file) {
    writeFileSync(file, r.jsonl);
    process.stderr.write(`exported ${r.count} events to ${file}\n`);
  } else process.stdout.write(r.jsonl);
}));

// --- partner organisations
const partner = program.command('partner').description('partner organisations trusted through their own CA roots, confined to their templates');
opCommand(partner, 'add', 'trust a partner\'s root(s) for certificate authentication').argument('<name>')
  .requiredOption('--root <file>', 'PEM file with the partner\'s root CA certificate(s)')
  .addOption(new Option('--map <from>', 'which certificate field names the principal').choices(['upn', 'email', 'dns', 'cn']).default('upn'))
  .option('--template <name>', 'a template the partner may use (repeatable); none means nothing', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--intermediate <file>', 'PEM file with the partner\'s issuing CA certificate(s), for clients that send only their own (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--crl <file>', 'a CRL of the partner\'s CA, DER or PEM (repeatable); with CRLs, revocation is checked and fails closed', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--crl-url <url>', 'an http(s) CRL distribution point of the partner, fetched and cached until its nextUpdate (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--crl-grace-hours <n>', 'hours past nextUpdate a partner CRL is still used (default 0: refuse at once)', '0')
  .addOption(new Option('--crl-check <scope>', 'check the client certificate only, or every certificate below the root').choices(['leaf', 'chain']).default('leaf'))
  .action(run(async (name: string, opts: Opts) => {
    const r = await operate(configFrom(opts), 'partner.add', {
      name,
      rootsPem: readFileSync(String(opts.root), 'utf8'),
      intermediatesPem: (opts.intermediate as string[]).map((f) => readFileSync(f, 'utf8')).join('\n'),
      mapFrom: opts.map,
      templates: opts.template,
      crls: (opts.crl as string[]).map((f) => readFileSync(f).toString('base64')),
      crlUrls: opts.crlUrl,
      crlGraceHours: Number(opts.crlGraceHours),
      crlCheck: opts.crlCheck,
    });
    print(opts.json, r, () => `partner ${name} added`);
  }));
opCommand(partner, 'crl', 'load newer CRLs for a partner (each replaces the loaded CRL of the same issuer)').argument('<name>')
  .requiredOption('--crl <file>', 'a CRL file, DER or PEM (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .action(run(async (name: string, opts: Opts) => {
    const r = (await operate(configFrom(opts), 'partner.crl', { name, crls: (opts.crl as string[]).map((f) => readFileSync(f).toString('base64')) })) as { crls: { issuer: string; nextUpdate: string | null }[] };
    print(opts.json, r, () => r.crls.map((c) => `loaded CRL from ${c.issuer}, next update ${c.nextUpdate ?? '(none)'}`).join('\n'));
  }));
opCommand(partner, 'list', 'list partners').action(run(async (opts: Opts) => {
  const r = (await operate(configFrom(opts), 'partner.list', {})) as { name: string; roots: number; mapFrom: string; templates: string[]; crlUrls: string[]; crls: { nextUpdate: string | null }[] }[];
  const revocation = (p: (typeof r)[number]): string => (p.crls.length || p.crlUrls.length ? `${p.crls.length} CRL(s)${p.crlUrls.length ? ` from ${p.crlUrls.length} URL(s)` : ''}` : 'no revocation checking');
  print(opts.json, r, () => r.map((p) => `${p.name}\t${p.roots} root(s)\tmap ${p.mapFrom}\t${p.templates.join(',') || '(no templates)'}\t${revocation(p)}`).join('\n') || '(no partners)');
}));
opCommand(partner, 'remove', 'stop trusting a partner (certificates we issued to its users stop authenticating)').argument('<name>')
  .option('--revoke', 'also revoke the certificates we issued to its users')
  .action(run(async (name: string, opts: Opts) => {
  const r = (await operate(configFrom(opts), 'partner.remove', { name, revoke: opts.revoke === true })) as { revoked?: string[] };
  print(opts.json, r, () => `partner ${name} removed${r.revoked ? `; ${r.revoked.length} certificate(s) revoked` : ''}`);
}));
opCommand(partner, 'suspend', 'refuse a partner\'s users for now, also with certificates we issued them').argument('<name>')
  .option('--revoke', 'also revoke the certificates we issued to its users')
  .action(run(async (name: string, opts: Opts) => {
  const r = (await operate(configFrom(opts), 'partner.suspend', { name, revoke: opts.revoke === true })) as { revoked?: string[] };
  print(opts.json, r, () => `partner ${name} suspended${r.revoked ? `; ${r.revoked.length} certificate(s) revoked` : ''}`);
}));
opCommand(partner, 'resume', 'trust a suspended partner again').argument('<name>').action(run(async (name: string, opts: Opts) => {
  const r = await operate(configFrom(opts), 'partner.resume', { name });
  print(opts.json, r, () => `partner ${name} resumed`);
}));

// --- SCEP (docs/scep.md)
const scep = program.command('scep').description('SCEP enrollment (NDES-compatible): one-time challenge passwords');
opCommand(scep, 'challenge', 'create a one-time challenge password for a SCEP profile; it is shown once')
  .requiredOption('--profile <name>', 'the SCEP profile (scep.profiles in the settings file)')
  .option('--for <name>', 'only for a request with this subject (its CN, or the whole DN)')
  .option('--valid <duration>', "how long it may be used, e.g. 30m, 1h, 2d (default: the profile's challengeValidity)")
  .action(run(async (opts: Opts & { profile: string; for?: string; valid?: string }) => {
    const r = (await operate(configFrom(opts), 'scep.challenge', { profile: opts.profile, for: opts.for, valid: opts.valid })) as { id: string; challenge: string; expiresAt: string };
    print(opts.json, r, () => `${r.challenge}\n(challenge ${r.id} for the profile ${opts.profile}, valid until ${r.expiresAt}; it is shown only now)`);
  }));
opCommand(scep, 'challenges', 'list challenges (never their secrets)')
  .option('--profile <name>', 'only this profile')
  .action(run(async (opts: Opts & { profile?: string }) => {
    const r = (await operate(configFrom(opts), 'scep.challenges', { profile: opts.profile })) as { id: string; profile: string; for: string | null; expiresAt: string; usedAt: string | null }[];
    print(opts.json, r, () => r.map((c) => `${c.id}\t${c.profile}\t${c.for ?? '-'}\t${c.usedAt ? `used ${c.usedAt}` : `valid until ${c.expiresAt}`}`).join('\n') || '(no challenges)');
  }));

// --- admin API tokens
const token = program.command('token').description('API tokens for the admin REST API (/api/v1)');
opCommand(token, 'create', 'create a token; it is shown once')
  .addOption(new Option('--role <role>', 'ca-admin | cert-manager | auditor').choices(['ca-admin', 'cert-manager', 'auditor']).makeOptionMandatory())
  .option('--for <principal>', 'the person the token acts as: a local account, user@REALM, partner:NAME/USER (must resolve; recorded as the actor)')
  .option('--service <name>', 'or a non-person client (recorded as service:NAME, never equal to a person)')
  .option('--name <name>', 'a label')
  .option('--expires-days <n>', 'expiry in days', (v: string) => Number.parseInt(v, 10))
  .action(run(async (opts: Opts) => {
    const r = (await operate(configFrom(opts), 'token.create', { role: opts.role, principal: opts.for, service: opts.service, name: opts.name, expiresDays: opts.expiresDays })) as { token: string; id: string };
    print(opts.json, r, () => `token ${r.id} created; it is shown only now:\n${r.token}`);
  }));
opCommand(token, 'list', 'list tokens (never their secrets)').action(run(async (opts: Opts) => {
  const r = (await operate(configFrom(opts), 'token.list', {})) as { id: string; role: string; principal: string; revokedAt: string | null }[];
  print(opts.json, r, () => r.map((t) => `${t.id}\t${t.role}\t${t.principal}${t.revokedAt ? '\trevoked' : ''}`).join('\n') || '(no tokens)');
}));
opCommand(token, 'revoke', 'revoke a token').argument('<id>').action(run(async (id: string, opts: Opts) => {
  const r = await operate(configFrom(opts), 'token.revoke', { id });
  print(opts.json, r, () => `token ${id} revoked`);
}));

registerRequesterCommands(program);
registerAutoenroll(program);
registerCaCommands(program);
registerDbCommands(program);

program.parseAsync(process.argv).catch(fail);
