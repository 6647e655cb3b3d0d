import { OpencesError } from '../../errors.js';
import type { SoapEnvelope } from '../soap/envelope.js';
import { NS } from '../soap/namespaces.js';
import { child, children, esc, isNil, text, type El } from '../soap/xml.js';
import type { XcepAttributes, XcepCa, XcepCaUri, XcepExtension, XcepOid, XcepPolicy, XcepResponse } from './types.js';

// ---- server side: string concatenation in MS-XCEP §6.2 schema order.

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
const NIL = ' xsi:nil="true"/>';

function s(name: string, v: string | undefined): string {
  return v === undefined ? `<${name}${NIL}` : `<${name}>${esc(v)}</${name}>`;
}
function n(name: string, v: number | undefined): string {
  return v === undefined ? `<${name}${NIL}` : `<${name}>${v}</${name}>`;
}
function b(name: string, v: boolean | undefined): string {
  return v === undefined ? `<${name}${NIL}` : `<${name}>${v ? 'true' : 'false'}</${name}>`;
}
/** A nillable collection: nil when absent or empty (every §6.2 collection has minOccurs=1 items). */
function list<T>(name: string, items: readonly T[] | undefined, each: (x: T) => string): string {
  if (!items || items.length === 0) return `<${name}${NIL}`;
  let out = `<${name}>`;
  for (const x of items) out += each(x);
  return `${out}</${name}>`;
}

function extension(e: XcepExtension): string {
  return `<extension>${n('oIDReference', e.oIDReference)}${b('critical', e.critical ?? false)}${e.value && e.value.length ? `<value>${b64(e.value)}</value>` : `<value${NIL}`}</extension>`;
}

function attributes(a: XcepAttributes): string {
  const pk = a.privateKey;
  const ra = a.raRequirements;
  const ka = a.keyArchival;
  return (
    `<attributes>${s('commonName', a.commonName)}${n('policySchema', a.policySchema)}` +
    `<certificateValidity>${n('validityPeriodSeconds', a.validityPeriodSeconds)}${n('renewalPeriodSeconds', a.renewalPeriodSeconds)}</certificateValidity>` +
    `<permission>${b('enroll', a.enroll)}${b('autoEnroll', a.autoEnroll)}</permission>` +
    `<privateKeyAttributes>${n('minimalKeyLength', pk.minimalKeyLength)}${n('keySpec', pk.keySpec)}${n('keyUsageProperty', pk.keyUsageProperty)}` +
    `${s('permissions', pk.permissions)}${n('algorithmOIDReference', pk.algorithmOIDReference)}` +
    `${list('cryptoProviders', pk.cryptoProviders, (p) => s('provider', p))}</privateKeyAttributes>` +
    `<revision>${n('majorRevision', a.majorRevision)}${n('minorRevision', a.minorRevision)}</revision>` +
    list('supersededPolicies', a.supersededPolicies, (c) => s('commonName', c)) +
    n('privateKeyFlags', a.privateKeyFlags) +
    n('subjectNameFlags', a.subjectNameFlags) +
    n('enrollmentFlags', a.enrollmentFlags) +
    n('generalFlags', a.generalFlags) +
    n('hashAlgorithmOIDReference', a.hashAlgorithmOIDReference) +
    (ra
      ? `<rARequirements>${n('rASignatures', ra.rASignatures)}${list('rAEKUs', ra.rAEKUs, (r) => n('oIDReference', r))}${list('rAPolicies', ra.rAPolicies, (r) => n('oIDReference', r))}</rARequirements>`
      : `<rARequirements${NIL}`) +
    (ka
      ? `<keyArchivalAttributes>${n('symmetricAlgorithmOIDReference', ka.symmetricAlgorithmOIDReference)}${n('symmetricAlgorithmKeyLength', ka.symmetricAlgorithmKeyLength)}</keyArchivalAttributes>`
      : `<keyArchivalAttributes${NIL}`) +
    list('extensions', a.extensions, extension) +
    `</attributes>`
  );
}

function policy(p: XcepPolicy): string {
  return `<policy>${n('policyOIDReference', p.policyOIDReference)}${list('cAs', p.cAs, (r) => n('cAReference', r))}${attributes(p.attributes)}</policy>`;
}

function caUri(u: XcepCaUri): string {
  return `<cAURI>${n('clientAuthentication', u.clientAuthentication)}${s('uri', u.uri)}${n('priority', u.priority)}${b('renewalOnly', u.renewalOnly ?? false)}</cAURI>`;
}

function ca(c: XcepCa): string {
  // base64 without line breaks: cepces re-wraps the text into PEM itself (textwrap at 64).
  return `<cA><uris>${c.uris.map(caUri).join('')}</uris><certificate>${b64(c.certificate)}</certificate>${b('enrollPermission', c.enrollPermission)}${n('cAReferenceID', c.cAReferenceID)}</cA>`;
}

function oid(o: XcepOid): string {
  return `<oID>${s('value', o.value)}${n('group', o.group)}${n('oIDReferenceID', o.oIDReferenceID)}${s('defaultName', o.defaultName)}</oID>`;
}

/**
 * The GetPoliciesResponse element (MS-XCEP 3.1.4.1.2.2), in schema order, nillable elements sent
 * as xsi:nil. A pure function of its input: callers cache the string per permission set and
 * template version, and wrap it per request with buildResponseEnvelope (RelatesTo differs).
 */
export function buildGetPoliciesResponseBody(r: XcepResponse): string {
  return (
    `<GetPoliciesResponse xmlns="${NS.xcep}" xmlns:xsi="${NS.xsi}">` +
    `<response>${s('policyID', r.policyID)}${s('policyFriendlyName', r.policyFriendlyName)}${n('nextUpdateHours', r.nextUpdateHours)}${b('policiesNotChanged', r.policiesNotChanged)}` +
    `${list('policies', r.policies, policy)}</response>` +
    `${list('cAs', r.cAs, ca)}${list('oIDs', r.oIDs, oid)}</GetPoliciesResponse>`
  );
}

// ---- client side: a typed reading of a server's GetPoliciesResponse.

const x = (el: El | undefined, name: string): El | undefined => child(el, NS.xcep, name);
const items = (el: El | undefined, name: string): El[] | undefined => (el && !isNil(el) ? children(el, NS.xcep, name) : undefined);

function value(el: El | undefined): string | undefined {
  if (!el || isNil(el)) return undefined;
  return (text(el) ?? '').trim();
}
function num(el: El | undefined, what: string): number | undefined {
  const t = value(el);
  if (t === undefined || t === '') return undefined;
  if (!/^[+-]?\d{1,20}$/.test(t)) throw new OpencesError('malformed', `GetPoliciesResponse: ${what} is not an integer`, { field: what });
  return Number(t);
}
function reqNum(el: El | undefined, what: string): number {
  const v = num(el, what);
  if (v === undefined) throw new OpencesError('malformed', `GetPoliciesResponse: ${what} is missing`, { field: what });
  return v;
}
function bool(el: El | undefined, what: string): boolean | undefined {
  const t = value(el);
  if (t === undefined || t === '') return undefined;
  if (t === 'true' || t === '1') return true;
  if (t === 'false' || t === '0') return false;
  throw new OpencesError('malformed', `GetPoliciesResponse: ${what} is not a boolean`, { field: what });
}
function base64(el: El | undefined, what: string): Uint8Array | undefined {
  const t = value(el)?.replace(/\s+/g, '');
  if (!t) return undefined;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.length % 4 === 1) throw new OpencesError('malformed', `GetPoliciesResponse: ${what} is not base64`, { field: what });
  return new Uint8Array(Buffer.from(t, 'base64'));
}

function readAttributes(a: El | undefined, where: string): XcepAttributes {
  if (!a) throw new OpencesError('malformed', `GetPoliciesResponse: ${where} has no attributes`);
  const pk = x(a, 'privateKeyAttributes');
  const ra = x(a, 'rARequirements');
  const ka = x(a, 'keyArchivalAttributes');
  const out: XcepAttributes = {
    commonName: value(x(a, 'commonName')) ?? '',
    policySchema: num(x(a, 'policySchema'), 'policySchema') ?? 0,
    validityPeriodSeconds: num(x(x(a, 'certificateValidity'), 'validityPeriodSeconds'), 'validityPeriodSeconds') ?? 0,
    renewalPeriodSeconds: num(x(x(a, 'certificateValidity'), 'renewalPeriodSeconds'), 'renewalPeriodSeconds') ?? 0,
    enroll: bool(x(x(a, 'permission'), 'enroll'), 'enroll') ?? false,
    autoEnroll: bool(x(x(a, 'permission'), 'autoEnroll'), 'autoEnroll') ?? false,
    privateKey: {
      minimalKeyLength: num(x(pk, 'minimalKeyLength'), 'minimalKeyLength') ?? 0,
      keySpec: num(x(pk, 'keySpec'), 'keySpec'),
      keyUsageProperty: num(x(pk, 'keyUsageProperty'), 'keyUsageProperty'),
      permissions: value(x(pk, 'permissions')),
      algorithmOIDReference: num(x(pk, 'algorithmOIDReference'), 'algorithmOIDReference'),
      cryptoProviders: items(x(pk, 'cryptoProviders'), 'provider')?.map((p) => value(p) ?? ''),
    },
    majorRevision: num(x(x(a, 'revision'), 'majorRevision'), 'majorRevision') ?? 0,
    minorRevision: num(x(x(a, 'revision'), 'minorRevision'), 'minorRevision') ?? 0,
    supersededPolicies: items(x(a, 'supersededPolicies'), 'commonName')?.map((c) => value(c) ?? ''),
    privateKeyFlags: num(x(a, 'privateKeyFlags'), 'privateKeyFlags'),
    subjectNameFlags: num(x(a, 'subjectNameFlags'), 'subjectNameFlags'),
    enrollmentFlags: num(x(a, 'enrollmentFlags'), 'enrollmentFlags'),
    generalFlags: num(x(a, 'generalFlags'), 'generalFlags'),
    hashAlgorithmOIDReference: num(x(a, 'hashAlgorithmOIDReference'), 'hashAlgorithmOIDReference'),
    extensions: items(x(a, 'extensions'), 'extension')?.map((e) => ({
      oIDReference: reqNum(x(e, 'oIDReference'), 'extension/oIDReference'),
      critical: bool(x(e, 'critical'), 'extension/critical'),
      value: base64(x(e, 'value'), 'extension/value'),
    })),
  };
  if (ra && !isNil(ra)) {
    out.raRequirements = {
      rASignatures: num(x(ra, 'rASignatures'), 'rASignatures') ?? 0,
      rAEKUs: items(x(ra, 'rAEKUs'), 'oIDReference')?.map((r) => reqNum(r, 'rAEKUs/oIDReference')),
      rAPolicies: items(x(ra, 'rAPolicies'), 'oIDReference')?.map((r) => reqNum(r, 'rAPolicies/oIDReference')),
    };
  }
  if (ka && !isNil(ka)) {
    out.keyArchival = {
      symmetricAlgorithmOIDReference: reqNum(x(ka, 'symmetricAlgorithmOIDReference'), 'symmetricAlgorithmOIDReference'),
      symmetricAlgorithmKeyLength: reqNum(x(ka, 'symmetricAlgorithmKeyLength'), 'symmetricAlgorithmKeyLength'),
    };
  }
  return out;
}

/** Client side: the typed GetPoliciesResponse (what `opences req policy` shows). */
export function parseGetPoliciesResponse(env: SoapEnvelope): XcepResponse {
  const op = env.operation;
  if (!op || op.namespaceURI !== NS.xcep || op.localName !== 'GetPoliciesResponse') throw new OpencesError('malformed', 'the answer is not an MS-XCEP GetPoliciesResponse');
  const resp = x(op, 'response');
  const out: XcepResponse = {
    policyID: value(x(resp, 'policyID')) ?? '',
    policyFriendlyName: value(x(resp, 'policyFriendlyName')),
    nextUpdateHours: num(x(resp, 'nextUpdateHours'), 'nextUpdateHours'),
    policiesNotChanged: bool(x(resp, 'policiesNotChanged'), 'policiesNotChanged'),
    policies: items(x(resp, 'policies'), 'policy')?.map((p, i) => ({
      policyOIDReference: reqNum(x(p, 'policyOIDReference'), 'policyOIDReference'),
      cAs: items(x(p, 'cAs'), 'cAReference')?.map((c) => reqNum(c, 'cAReference')),
      attributes: readAttributes(x(p, 'attributes'), `policy ${i + 1}`),
    })),
    cAs: items(x(op, 'cAs'), 'cA')?.map((c) => {
      const certificate = base64(x(c, 'certificate'), 'cA/certificate');
      if (!certificate) throw new OpencesError('malformed', 'GetPoliciesResponse: a cA has no certificate');
      return {
        uris: (items(x(c, 'uris'), 'cAURI') ?? []).map((u) => ({
          clientAuthentication: reqNum(x(u, 'clientAuthentication'), 'clientAuthentication'),
          uri: value(x(u, 'uri')) ?? '',
          priority: num(x(u, 'priority'), 'priority'),
          renewalOnly: bool(x(u, 'renewalOnly'), 'renewalOnly'),
        })),
        certificate,
        enrollPermission: bool(x(c, 'enrollPermission'), 'enrollPermission') ?? false,
        cAReferenceID: reqNum(x(c, 'cAReferenceID'), 'cAReferenceID'),
      };
    }),
    oIDs: items(x(op, 'oIDs'), 'oID')?.map((o) => ({
      value: value(x(o, 'value')) ?? '',
      group: num(x(o, 'group'), 'group') ?? 0,
      oIDReferenceID: reqNum(x(o, 'oIDReferenceID'), 'oIDReferenceID'),
      defaultName: value(x(o, 'defaultName')),
    })),
  };
  return out;
}
