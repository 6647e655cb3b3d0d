import { OpencesError } from '../../errors.js';
import type { SoapEnvelope } from '../soap/envelope.js';
import { NS } from '../soap/namespaces.js';
import { child, children, elem, esc, isNil, nil, optionalText, text, type El } from '../soap/xml.js';
import type { XcepAttributes, XcepCa, XcepOid, XcepPolicy, XcepResponse } from './types.js';

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

function list<T>(name: string, items: T[] | undefined, each: (x: T) => string): string {
  return items === undefined ? nil(name) : `<${name}>${items.map(each).join('')}</${name}>`;
}

function attributes(a: XcepAttributes): string {
  const pk = a.privateKey;
  return (
    `<attributes>${elem('commonName', a.commonName)}${elem('policySchema', a.policySchema)}` +
    `<certificateValidity>${elem('validityPeriodSeconds', a.validityPeriodSeconds)}${elem('renewalPeriodSeconds', a.renewalPeriodSeconds)}</certificateValidity>` +
    `<permission>${elem('enroll', a.enroll)}${elem('autoEnroll', a.autoEnroll)}</permission>` +
    `<privateKeyAttributes>${elem('minimalKeyLength', pk.minimalKeyLength)}${elem('keySpec', pk.keySpec)}${elem('keyUsageProperty', pk.keyUsageProperty)}` +
    `${elem('permissions', pk.permissions)}${elem('algorithmOIDReference', pk.algorithmOIDReference)}` +
    `${list('cryptoProviders', pk.cryptoProviders?.length ? pk.cryptoProviders : undefined, (p) => elem('provider', p))}</privateKeyAttributes>` +
    `<revision>${elem('majorRevision', a.majorRevision)}${elem('minorRevision', a.minorRevision)}</revision>` +
    `${list('supersededPolicies', a.supersededPolicies?.length ? a.supersededPolicies : undefined, (n) => elem('commonName', n))}` +
    `${elem('privateKeyFlags', a.privateKeyFlags)}${elem('subjectNameFlags', a.subjectNameFlags)}${elem('enrollmentFlags', a.enrollmentFlags)}${elem('generalFlags', a.generalFlags)}` +
    `${elem('hashAlgorithmOIDReference', a.hashAlgorithmOIDReference)}` +
    (a.raRequirements
      ? `<rARequirements>${elem('rASignatures', a.raRequirements.rASignatures)}${list('rAEKUs', a.raRequirements.rAEKUs?.length ? a.raRequirements.rAEKUs : undefined, (r) => elem('oIDReference', r))}${list('rAPolicies', a.raRequirements.rAPolicies?.length ? a.raRequirements.rAPolicies : undefined, (r) => elem('oIDReference', r))}</rARequirements>`
      : nil('rARequirements')) +
    (a.keyArchival ? `<keyArchivalAttributes>${elem('symmetricAlgorithmOIDReference', a.keyArchival.symmetricAlgorithmOIDReference)}${elem('symmetricAlgorithmKeyLength', a.keyArchival.symmetricAlgorithmKeyLength)}</keyArchivalAttributes>` : nil('keyArchivalAttributes')) +
    list('extensions', a.extensions?.length ? a.extensions : undefined, (e) => `<extension>${elem('oIDReference', e.oIDReference)}${elem('critical', e.critical)}${e.value ? elem('value', b64(e.value)) : nil('value')}</extension>`) +
    `</attributes>`
  );
}

function policy(p: XcepPolicy): string {
  return `<policy>${elem('policyOIDReference', p.policyOIDReference)}${list('cAs', p.cAs, (r) => elem('cAReference', r))}${attributes(p.attributes)}</policy>`;
}

function ca(c: XcepCa): string {
  const uris = c.uris.map((u) => `<cAURI>${elem('clientAuthentication', u.clientAuthentication)}${elem('uri', u.uri)}${elem('priority', u.priority)}${elem('renewalOnly', u.renewalOnly)}</cAURI>`).join('');
  return `<cA><uris>${uris}</uris>${elem('certificate', b64(c.certificate))}${elem('enrollPermission', c.enrollPermission)}${elem('cAReferenceID', c.cAReferenceID)}</cA>`;
}

function oid(o: XcepOid): string {
  return `<oID>${elem('value', o.value)}${elem('group', o.group)}${elem('oIDReferenceID', o.oIDReferenceID)}${elem('defaultName', o.defaultName)}</oID>`;
}

/**
 * The GetPoliciesResponse element, in MS-XCEP schema order, nillable elements sent as xsi:nil.
 * Depends only on its input, so callers cache it per permission set and template version.
 */
export function buildGetPoliciesResponseBody(r: XcepResponse): string {
  return (
    `<GetPoliciesResponse xmlns="http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy" xmlns:xsi="${NS.xsi}">` +
    `<response>${elem('policyID', r.policyID)}${elem('policyFriendlyName', r.policyFriendlyName)}${elem('nextUpdateHours', r.nextUpdateHours)}${elem('policiesNotChanged', r.policiesNotChanged)}` +
    `${list('policies', r.policies, policy)}</response>` +
    `${list('cAs', r.cAs, ca)}${list('oIDs', r.oIDs, oid)}</GetPoliciesResponse>`
  );
}

// ---- client side

const x = (el: El | undefined, name: string): El | undefined => child(el, NS.xcep, name);
const xs = (el: El | undefined, name: string): El[] => (el && !isNil(el) ? children(el, NS.xcep, name) : []);
const num = (el: El | undefined): number | undefined => {
  const t = optionalText(el);
  return t === undefined ? undefined : Number(t);
};
const bool = (el: El | undefined): boolean | undefined => {
  const t = optionalText(el);
  return t === undefined ? undefined : t === 'true' || t === '1';
};

/** Client side: the typed GetPoliciesResponse (what `opences req policy` shows). */
export function parseGetPoliciesResponse(env: SoapEnvelope): XcepResponse {
  const op = env.operation;
  if (!op || op.namespaceURI !== NS.xcep || op.localName !== 'GetPoliciesResponse') throw new OpencesError('malformed', 'the answer is not a GetPoliciesResponse');
  const resp = x(op, 'response');
  const policiesEl = x(resp, 'policies');
  return {
    policyID: text(x(resp, 'policyID'))?.trim() ?? '',
    policyFriendlyName: optionalText(x(resp, 'policyFriendlyName')),
    nextUpdateHours: num(x(resp, 'nextUpdateHours')),
    policiesNotChanged: bool(x(resp, 'policiesNotChanged')),
    policies: policiesEl && !isNil(policiesEl)
      ? xs(policiesEl, 'policy').map((p) => {
          const a = x(p, 'attributes');
          const pk = x(a, 'privateKeyAttributes');
          return {
            policyOIDReference: num(x(p, 'policyOIDReference')) ?? -1,
            cAs: xs(x(p, 'cAs'), 'cAReference').map((c) => Number(text(c))),
            attributes: {
              commonName: text(x(a, 'commonName'))?.trim() ?? '',
              policySchema: num(x(a, 'policySchema')) ?? 0,
              validityPeriodSeconds: num(x(x(a, 'certificateValidity'), 'validityPeriodSeconds')) ?? 0,
              renewalPeriodSeconds: num(x(x(a, 'certificateValidity'), 'renewalPeriodSeconds')) ?? 0,
              enroll: bool(x(x(a, 'permission'), 'enroll')) ?? false,
              autoEnroll: bool(x(x(a, 'permission'), 'autoEnroll')) ?? false,
              privateKey: { minimalKeyLength: num(x(pk, 'minimalKeyLength')) ?? 0, keySpec: num(x(pk, 'keySpec')), algorithmOIDReference: num(x(pk, 'algorithmOIDReference')) },
              majorRevision: num(x(x(a, 'revision'), 'majorRevision')) ?? 0,
              minorRevision: num(x(x(a, 'revision'), 'minorRevision')) ?? 0,
              privateKeyFlags: num(x(a, 'privateKeyFlags')),
              subjectNameFlags: num(x(a, 'subjectNameFlags')),
              enrollmentFlags: num(x(a, 'enrollmentFlags')),
              generalFlags: num(x(a, 'generalFlags')),
            },
          };
        })
      : undefined,
    cAs: xs(x(op, 'cAs'), 'cA').map((c) => ({
      uris: xs(x(c, 'uris'), 'cAURI').map((u) => ({
        clientAuthentication: num(x(u, 'clientAuthentication')) ?? 0,
        uri: text(x(u, 'uri'))?.trim() ?? '',
        priority: num(x(u, 'priority')),
        renewalOnly: bool(x(u, 'renewalOnly')),
      })),
      certificate: new Uint8Array(Buffer.from((text(x(c, 'certificate')) ?? '').replace(/\s+/g, ''), 'base64')),
      enrollPermission: bool(x(c, 'enrollPermission')) ?? false,
      cAReferenceID: num(x(c, 'cAReferenceID')) ?? -1,
    })),
    oIDs: xs(x(op, 'oIDs'), 'oID').map((o) => ({
      value: text(x(o, 'value'))?.trim() ?? '',
      group: num(x(o, 'group')) ?? 0,
      oIDReferenceID: num(x(o, 'oIDReferenceID')) ?? -1,
      defaultName: optionalText(x(o, 'defaultName')),
    })),
  };
}

export { esc };
