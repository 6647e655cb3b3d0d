import { isIP } from 'node:net';
import type { NameAttribute, SanEntry } from '../ca/types.js';
import { OpencesError } from '../errors.js';
import type { RequesterKeyType } from './request-builder.js';

/**
 * certreq-style INF request files (`certreq -new request.inf`), the subset that means something
 * for a key made in a file on this machine:
 *
 * ```ini
 * [Version]
 * Signature = "$Windows NT$"
 * [NewRequest]
 * Subject = "CN=www.example.com, O=Example"
 * KeyAlgorithm = RSA            ; RSA (default), ECDSA_P256, ECDSA_P384
 * KeyLength = 2048              ; RSA 2048/3072/4096 (default 2048)
 * Exportable = TRUE
 * RequestType = PKCS10          ; or CMC
 * [Extensions]
 * 2.5.29.17 = "{text}"
 * _continue_ = "dns=www.example.com&"
 * _continue_ = "ipaddress=192.0.2.7&upn=web@example.com&email=web@example.com"
 * [RequestAttributes]
 * CertificateTemplate = WebServer
 * ```
 *
 * Windows key-store settings (ProviderName, KeySpec, MachineKeySet, …), FriendlyName, and the
 * extensions a template decides anyway (EKU, key usage, basic constraints) are accepted and
 * ignored with a note. Anything else — an unknown section, key, extension, SAN type or value — is
 * an error naming the line, so a request never silently differs from what the file says.
 */
export interface InfRequest {
  subject?: NameAttribute[];
  keyType: RequesterKeyType;
  exportable?: boolean;
  format: 'pkcs10' | 'cmc';
  /** Only set when the file has a 2.5.29.17 extension. */
  sans?: SanEntry[];
  template?: string;
  /** What was accepted but ignored, one line each, with the line number. */
  notes: string[];
}

interface Line {
  no: number;
  key: string;
  value: string;
}

const SECTIONS = ['version', 'strings', 'newrequest', 'extensions', 'requestattributes', 'enhancedkeyusageextension'] as const;
type Section = (typeof SECTIONS)[number];

/** [NewRequest] keys that configure the Windows key store or UI: no meaning for a PKCS#8 file. */
const WINDOWS_ONLY = new Map<string, string>(
  [
    'KeySpec',
    'KeyUsage',
    'KeyUsageProperty',
    'MachineKeySet',
    'ProviderName',
    'ProviderType',
    'SMIME',
    'Silent',
    'UserProtected',
    'KeyProtection',
    'SuppressDefaults',
    'EncryptionAlgorithm',
    'EncryptionLength',
    'SecurityDescriptor',
    'ContainerName',
    'LegacyKeySpec',
    'UseExistingKeySet',
    'PrivateKeyArchive',
    'AlternateSignatureAlgorithm',
    'HashAlgorithm',
    'ValidityPeriod',
    'ValidityPeriodUnits',
    'NotBefore',
    'NotAfter',
    'FriendlyName',
  ].map((k) => [k.toLowerCase(), k]),
);

/** Why each ignored setting does not apply here. */
function ignoredWhy(key: string): string {
  switch (key) {
    case 'friendlyname':
      return 'a Windows certificate-store label; give --pfx-out for a PKCS#12 (its friendly name is the subject CN)';
    case 'hashalgorithm':
      return 'the request is signed with SHA-256 (SHA-384 for P-384 keys)';
    case 'validityperiod':
    case 'validityperiodunits':
    case 'notbefore':
    case 'notafter':
      return 'the template sets the validity';
    case 'keyusage':
      return 'the template sets the key usage';
    default:
      return 'a Windows key-store setting; the key is written to --key-out as a PKCS#8 file';
  }
}

/** X.500 attribute names certreq accepts, as our name encoder spells them. */
const DN_TYPES: Record<string, string> = {
  CN: 'CN',
  O: 'O',
  OU: 'OU',
  L: 'L',
  S: 'ST',
  ST: 'ST',
  C: 'C',
  E: 'E',
  EMAIL: 'E',
  DC: 'DC',
  SN: 'SN',
  G: 'GN',
  GN: 'GN',
  GIVENNAME: 'GN',
  SERIALNUMBER: 'SERIALNUMBER',
  UID: 'UID',
};

const SAN_TYPES: Record<string, SanEntry['type']> = { dns: 'dns', upn: 'upn', email: 'email', ipaddress: 'ip', url: 'uri' };

/** Extensions a template decides whatever the request says. */
const TEMPLATE_DECIDES: Record<string, string> = {
  '2.5.29.37': 'enhanced key usage',
  '2.5.29.15': 'key usage',
  '2.5.29.19': 'basic constraints',
};

/** Parses an INF request file (text already decoded); `source` names it in messages. */
export function parseInf(text: string, source = 'INF file'): InfRequest {
  const fail = (no: number, msg: string): never => {
    throw new OpencesError('malformed', `${source} line ${no}: ${msg}`);
  };
  const sections = new Map<Section, Line[]>();
  const seenSections = new Map<Section, number>();
  let current: Section | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const no = i + 1;
    const raw = stripComment(lines[i]!, no, fail).trim();
    if (!raw) continue;
    const head = /^\[\s*([^\]]*?)\s*\]$/.exec(raw);
    if (head) {
      const name = head[1]!.toLowerCase() as Section;
      if (!SECTIONS.includes(name)) fail(no, `unknown section [${head[1]}]; opences reads [Version], [Strings], [NewRequest], [Extensions], [RequestAttributes] and [EnhancedKeyUsageExtension]`);
      if (seenSections.has(name)) fail(no, `section [${head[1]}] appears twice (first on line ${seenSections.get(name)})`);
      seenSections.set(name, no);
      sections.set(name, []);
      current = name;
      continue;
    }
    if (!current) fail(no, `"${raw}" is outside any section; start with [NewRequest]`);
    const eq = raw.indexOf('=');
    if (eq <= 0) fail(no, `expected "Key = value", found "${raw}"`);
    sections.get(current!)!.push({ no, key: raw.slice(0, eq).trim(), value: unquote(raw.slice(eq + 1).trim(), no, fail) });
  }

  // [Strings]: %name% substitutions, as certreq does them.
  const strings = new Map<string, string>();
  for (const l of sections.get('strings') ?? []) strings.set(l.key.toLowerCase(), l.value);
  const subst = (s: string, no: number): string =>
    s.replace(/%([^%\s]+)%/g, (_, name: string) => strings.get(name.toLowerCase()) ?? fail(no, `%${name}% is not defined in [Strings]`));

  const noted: { no: number; text: string }[] = [];
  const note = (no: number, msg: string): void => void noted.push({ no, text: `${source} line ${no}: ${msg}` });
  const notes: string[] = [];

  for (const l of sections.get('version') ?? []) {
    if (l.key.toLowerCase() !== 'signature') fail(l.no, `unknown key "${l.key}" in [Version] (only Signature)`);
    if (!/^\$(Windows NT|Windows 95|Chicago)\$$/i.test(l.value)) fail(l.no, `Signature must be "$Windows NT$", not "${l.value}"`);
  }

  for (const l of sections.get('enhancedkeyusageextension') ?? []) {
    if (!['oid', 'critical'].includes(l.key.toLowerCase())) fail(l.no, `unknown key "${l.key}" in [EnhancedKeyUsageExtension] (OID or Critical)`);
    note(l.no, `${l.key} ${subst(l.value, l.no)} ignored: the template sets the enhanced key usage`);
  }

  // [NewRequest]
  const nr = new Map<string, Line>();
  for (const l of sections.get('newrequest') ?? []) {
    const k = l.key.toLowerCase();
    const prev = nr.get(k);
    if (prev) fail(l.no, `${l.key} is set twice (first on line ${prev.no})`);
    nr.set(k, { ...l, value: subst(l.value, l.no) });
  }
  const out: InfRequest = { keyType: 'RSA-2048', format: 'pkcs10', notes };
  for (const [k, l] of nr) {
    switch (k) {
      case 'subject':
        out.subject = parseDn(l.value, l.no, fail);
        break;
      case 'keyalgorithm':
      case 'keylength':
        break; // together below
      case 'exportable':
        out.exportable = bool(l, fail);
        note(l.no, `Exportable ignored: the key is a file (--key-out, 0600) either way`);
        break;
      case 'requesttype': {
        const v = l.value.toLowerCase();
        if (v !== 'pkcs10' && v !== 'cmc') fail(l.no, `RequestType "${l.value}" is not supported; use PKCS10 or CMC`);
        out.format = v as 'pkcs10' | 'cmc';
        break;
      }
      case 'useexistingkeyset':
        if (bool(l, fail)) fail(l.no, 'UseExistingKeySet = TRUE is not supported: opences makes a new key for every request');
        break;
      case 'privatekeyarchive':
        if (bool(l, fail)) fail(l.no, 'PrivateKeyArchive = TRUE is not supported: private keys never leave this machine');
        break;
      case 'alternatesignaturealgorithm':
        if (bool(l, fail)) fail(l.no, 'AlternateSignatureAlgorithm = TRUE (RSA-PSS requests) is not supported');
        break;
      default: {
        const known = WINDOWS_ONLY.get(k);
        if (!known) fail(l.no, `unknown key "${l.key}" in [NewRequest]`);
        note(l.no, `${known} ignored: ${ignoredWhy(k)}`);
      }
    }
  }
  out.keyType = keyType(nr.get('keyalgorithm'), nr.get('keylength'), fail);

  // [Extensions]: each extension's value with its _continue_ lines.
  const exts: { oid: string; no: number; parts: { text: string; no: number }[] }[] = [];
  for (const l of sections.get('extensions') ?? []) {
    const key = subst(l.key, l.no);
    const value = subst(l.value, l.no);
    if (key.toLowerCase() === '_continue_') {
      const last = exts[exts.length - 1];
      if (!last) fail(l.no, '_continue_ with no extension before it');
      last!.parts.push({ text: value, no: l.no });
    } else if (key.toLowerCase() === 'critical') {
      note(l.no, `Critical = ${value} ignored: the CA decides which extensions are critical`);
    } else if (/^\d+(\.\d+)+$/.test(key)) {
      if (exts.some((e) => e.oid === key)) fail(l.no, `extension ${key} is given twice`);
      exts.push({ oid: key, no: l.no, parts: [{ text: value, no: l.no }] });
    } else {
      fail(l.no, `"${l.key}" in [Extensions] is not an OID, _continue_ or Critical`);
    }
  }
  for (const e of exts) {
    if (e.oid === '2.5.29.17') out.sans = parseSanText(e.parts, fail);
    else if (TEMPLATE_DECIDES[e.oid]) note(e.no, `extension ${e.oid} (${TEMPLATE_DECIDES[e.oid]}) ignored: the template sets it`);
    else fail(e.no, `extension ${e.oid} is not supported in a request; opences takes 2.5.29.17 (subject alternative name) and lets the template set the rest`);
  }

  // [RequestAttributes]
  for (const l of sections.get('requestattributes') ?? []) {
    const k = l.key.toLowerCase();
    if (k === 'certificatetemplate') {
      if (out.template !== undefined) fail(l.no, 'CertificateTemplate is set twice');
      const t = subst(l.value, l.no).trim();
      if (!/^[A-Za-z0-9 ._-]{1,64}$/.test(t)) fail(l.no, `"${t}" is not a template name`);
      out.template = t;
    } else if (k === 'san') {
      fail(l.no, 'the SAN request attribute is not supported; put the names in [Extensions] as 2.5.29.17 = "{text}dns=…&dns=…"');
    } else {
      fail(l.no, `unknown request attribute "${l.key}" (only CertificateTemplate)`);
    }
  }
  notes.push(...noted.sort((a, b) => a.no - b.no).map((n) => n.text));
  return out;
}

/** Drops a `;` comment that is outside double quotes. */
function stripComment(line: string, no: number, fail: (no: number, msg: string) => never): string {
  let inQuotes = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') inQuotes = !inQuotes;
    else if (c === ';' && !inQuotes) return line.slice(0, i);
  }
  if (inQuotes) fail(no, 'a quoted value is not closed');
  return line;
}

/** `"text ""quoted"" more"` → `text "quoted" more`; bare values as they are. */
function unquote(v: string, no: number, fail: (no: number, msg: string) => never): string {
  if (!v.startsWith('"')) {
    if (v.includes('"')) fail(no, `stray quote in ${v}`);
    return v;
  }
  let out = '';
  let i = 1;
  for (; i < v.length; i++) {
    if (v[i] === '"') {
      if (v[i + 1] === '"') {
        out += '"';
        i++;
        continue;
      }
      break;
    }
    out += v[i];
  }
  if (i >= v.length) fail(no, 'a quoted value is not closed');
  if (v.slice(i + 1).trim()) fail(no, `unexpected text after the quoted value: ${v.slice(i + 1).trim()}`);
  return out;
}

function bool(l: Line, fail: (no: number, msg: string) => never): boolean {
  const v = l.value.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return fail(l.no, `${l.key} must be TRUE or FALSE, not "${l.value}"`);
}

function keyType(alg: Line | undefined, len: Line | undefined, fail: (no: number, msg: string) => never): RequesterKeyType {
  const length = len ? Number(len.value) : undefined;
  if (len && (!Number.isInteger(length) || !/^\d+$/.test(len.value))) fail(len.no, `KeyLength must be a number, not "${len.value}"`);
  const a = (alg?.value ?? 'RSA').toUpperCase();
  if (a === 'RSA') {
    const bits = length ?? 2048;
    if (![2048, 3072, 4096].includes(bits)) fail(len!.no, `KeyLength ${bits} is not supported for RSA; use 2048, 3072 or 4096`);
    return `RSA-${bits}` as RequesterKeyType;
  }
  const curves: Record<string, number | undefined> = { ECDSA_P256: 256, ECDSA_P384: 384, ECDSA: length };
  if (!(a in curves)) fail(alg!.no, `KeyAlgorithm "${alg!.value}" is not supported; use RSA, ECDSA_P256 or ECDSA_P384`);
  const bits = curves[a];
  if (bits !== 256 && bits !== 384) fail((len ?? alg)!.no, a === 'ECDSA' ? 'KeyAlgorithm = ECDSA needs KeyLength = 256 or 384' : `${a} takes no KeyLength other than ${a.slice(-3)}`);
  if (length !== undefined && length !== bits) fail(len!.no, `KeyLength ${length} does not match ${a}`);
  return bits === 256 ? 'P-256' : 'P-384';
}

/** `CN=www.example.com, O="Example, Inc.", S=Washington` → attributes in order. */
function parseDn(dn: string, no: number, fail: (no: number, msg: string) => never): NameAttribute[] {
  const parts: string[] = [];
  let cur = '';
  let inQuotes = false;
  for (let i = 0; i < dn.length; i++) {
    const c = dn[i]!;
    if (c === '\\' && i + 1 < dn.length) {
      cur += dn[++i];
    } else if (c === '"') {
      inQuotes = !inQuotes;
    } else if ((c === ',' || c === ';') && !inQuotes) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  if (inQuotes) fail(no, 'a quoted part of Subject is not closed');
  parts.push(cur);
  if (parts.length === 1 && !parts[0]!.trim()) return [];
  return parts.map((p) => {
    const eq = p.indexOf('=');
    const type = eq > 0 ? p.slice(0, eq).trim().toUpperCase() : '';
    const value = p.slice(eq + 1).trim();
    if (!type || !value) fail(no, `Subject part "${p.trim()}" is not TYPE=value`);
    const mapped = DN_TYPES[type] ?? (/^\d+(\.\d+)+$/.test(type) ? type : undefined);
    if (!mapped) fail(no, `Subject attribute "${type}" is not supported (CN, O, OU, L, S, C, E, DC, SN, G, SERIALNUMBER, UID or an OID)`);
    return { type: mapped!, value };
  });
}

/** The `{text}` form of 2.5.29.17: `type=value&type=value…` across _continue_ lines. */
function parseSanText(parts: { text: string; no: number }[], fail: (no: number, msg: string) => never): SanEntry[] {
  const first = parts[0]!;
  if (!/^\{text\}/i.test(first.text)) fail(first.no, 'only the "{text}" form of 2.5.29.17 is supported, e.g. 2.5.29.17 = "{text}dns=www.example.com"');
  const out: SanEntry[] = [];
  parts.forEach((p, i) => {
    const text = i === 0 ? p.text.slice('{text}'.length) : p.text;
    for (const item of text.split('&')) {
      const t = item.trim();
      if (!t) continue;
      const eq = t.indexOf('=');
      const kind = eq > 0 ? t.slice(0, eq).trim().toLowerCase() : '';
      const value = t.slice(eq + 1).trim();
      const type = SAN_TYPES[kind];
      if (!type) fail(p.no, `subject alternative name "${t}" is not supported; use dns=, upn=, email=, ipaddress= or url=`);
      if (!value) fail(p.no, `subject alternative name "${t}" has no value`);
      if (type === 'ip' && !isIP(value)) fail(p.no, `"${value}" is not an IP address`);
      if (type === 'dns' && !/^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}\.)*[A-Za-z0-9_-]{1,63}\.?$/.test(value)) fail(p.no, `"${value}" is not a DNS name`);
      if ((type === 'email' || type === 'upn') && !/^[^@\s]+@[^@\s]+$/.test(value)) fail(p.no, `"${value}" is not a ${type === 'email' ? 'mail address' : 'user principal name'} (name@domain)`);
      out.push({ type: type!, value });
    }
  });
  return out;
}
