import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BoundedCache } from '../bounded-cache.js';
import type { Principal } from '../auth/principal.js';
import type { Core } from '../app/core-types.js';
import { child, readTlv } from '../ca/der.js';
import { extKeyUsage, keyUsage, templateInformation, certificatePolicies } from '../ca/extensions.js';
import { enrollmentFlags, generalFlags, privateKeyFlags, subjectNameFlags } from '../policy/flags.js';
import { HASH_OID, KEY_ALGORITHM_OID, cngAlgorithm, effectiveProviders, isCngTemplate, keyUsageProperty, wireKeySpec, wireMinimalKeyLength } from '../policy/key-attributes.js';
import { permissionSetKey, visibleTemplates, type Rights } from '../policy/permissions.js';
import type { Template } from '../policy/template.js';
import type { SoapEnvelope } from '../protocol/soap/envelope.js';
import { OID_GROUP, XCEP_ACTION, buildGetPoliciesResponseBody, parseGetPolicies, type XcepExtension, type XcepOid, type XcepPolicy, type XcepResponse } from '../protocol/xcep/index.js';
import { CLIENT_AUTHENTICATION, cesPath, type EndpointAuth } from './endpoints.js';
import type { SoapOperation } from './soap-endpoint.js';


/** The value (extnValue contents) of an Extension we encoded. */
function extensionValue(ext: Uint8Array): Uint8Array {
  const last = child(ext, countChildren(ext) - 1);
  const t = readTlv(last);
  return last.subarray(t.header, t.header + t.length);
}

function countChildren(der: Uint8Array): number {
  let n = 0;
  for (;;) {
    try {
      child(der, n);
      n++;
    } catch {
      return n;
    }
  }
}

class OidTable {
  readonly list: XcepOid[] = [];
  private readonly index = new Map<string, number>();
  ref(value: string, group: number, defaultName?: string): number {
    const key = `${group}|${value}`;
    let id = this.index.get(key);
    if (id === undefined) {
      id = this.list.length;
      this.index.set(key, id);
      this.list.push({ value, group, oIDReferenceID: id, defaultName });
    }
    return id;
  }
}

/** Builds the MS-XCEP response for the templates a caller sees: pure, cacheable by rights. */
export function buildPolicyResponse(o: {
  policyId: string;
  friendlyName: string;
  nextUpdateHours: number;
  notChanged: boolean;
  visible: { template: Template; rights: Rights }[];
  caCertificate: Uint8Array;
  cesUris: { auth: EndpointAuth; uri: string; renewalOnly: boolean }[];
}): XcepResponse {
  const oids = new OidTable();
  const policies: XcepPolicy[] = o.visible.map(({ template: t, rights }) => {
    const exts: XcepExtension[] = [];
    const add = (extDer: Uint8Array, oidValue: string, name: string, critical: boolean): void => {
      exts.push({ oIDReference: oids.ref(oidValue, OID_GROUP.extension, name), critical, value: extensionValue(extDer) });
    };
    if (t.extensions.templateInformation) add(templateInformation(t.oid, t.majorRevision, t.minorRevision), '1.3.6.1.4.1.311.21.7', 'Certificate Template Information', false);
    if (t.extensions.ekus.length) add(extKeyUsage(t.extensions.ekus), '2.5.29.37', 'Enhanced Key Usage', false);
    if (t.extensions.keyUsage.length) add(keyUsage(t.extensions.keyUsage, t.extensions.keyUsageCritical), '2.5.29.15', 'Key Usage', t.extensions.keyUsageCritical);
    if (t.extensions.issuancePolicies.length) add(certificatePolicies(t.extensions.issuancePolicies), '2.5.29.32', 'Certificate Policies', false);
    const cng = isCngTemplate(t);
    const alg = cngAlgorithm(t);
    return {
      // ADCS names a template OID by the template's display name (4.1.1.2: "Basic EFS" for EFS);
      // Windows shows it in the enrollment wizard.
      policyOIDReference: oids.ref(t.oid, OID_GROUP.template, t.displayName),
      cAs: [0],
      attributes: {
        commonName: t.name,
        policySchema: t.schemaVersion,
        validityPeriodSeconds: t.validityPeriodSeconds,
        renewalPeriodSeconds: t.renewalPeriodSeconds,
        enroll: rights.enroll,
        autoEnroll: rights.autoenroll,
        privateKey: {
          minimalKeyLength: wireMinimalKeyLength(t),
          keySpec: wireKeySpec(t),
          // CNG attributes (schema 3+) only: ADCS sends them nil for CryptoAPI templates.
          keyUsageProperty: cng ? keyUsageProperty(t) : undefined,
          permissions: cng && t.privateKey.securityDescriptor ? t.privateKey.securityDescriptor : undefined,
          algorithmOIDReference: alg ? oids.ref(KEY_ALGORITHM_OID[alg].oid, OID_GROUP.publicKey, KEY_ALGORITHM_OID[alg].name) : undefined,
          cryptoProviders: effectiveProviders(t),
        },
        majorRevision: t.majorRevision,
        minorRevision: t.minorRevision,
        supersededPolicies: t.supersededTemplates,
        privateKeyFlags: privateKeyFlags(t),
        subjectNameFlags: subjectNameFlags(t),
        enrollmentFlags: enrollmentFlags(t),
        generalFlags: generalFlags(t),
        // MS-XCEP 3.1.4.1.3.1: MUST be nil for policySchema 1 or 2.
        hashAlgorithmOIDReference: cng ? oids.ref(HASH_OID[t.hashAlgorithm].oid, OID_GROUP.hash, HASH_OID[t.hashAlgorithm].name) : undefined,
        raRequirements: t.raSignatures > 0 ? { rASignatures: t.raSignatures, rAEKUs: t.raApplicationPolicies.map((p) => oids.ref(p, OID_GROUP.eku)), rAPolicies: t.raIssuancePolicies.map((p) => oids.ref(p, OID_GROUP.issuancePolicy)) } : undefined,
        extensions: exts,
      },
    };
  });
  return {
    policyID: o.policyId,
    policyFriendlyName: o.friendlyName,
    nextUpdateHours: o.nextUpdateHours,
    // true, or nil ("changed", as ADCS sends it in MS-XCEP 4.1.1.2; false would mean the same).
    policiesNotChanged: o.notChanged ? true : undefined,
    policies: o.notChanged ? undefined : policies,
    // MS-XCEP 3.1.4.1.3.9: "policies not changed" answers SHOULD carry nil cAs and oIDs (4.1.2.2 does).
    cAs: o.notChanged ? undefined : [
      {
        uris: o.cesUris.map((u) => ({ clientAuthentication: CLIENT_AUTHENTICATION[u.auth], uri: u.uri, priority: 1, renewalOnly: u.renewalOnly })),
        certificate: o.caCertificate,
        enrollPermission: o.visible.some((v) => v.rights.enroll),
        cAReferenceID: 0,
      },
    ],
    oIDs: o.notChanged ? undefined : oids.list,
  };
}

/**
 * MS-XCEP 3.1.4.1.3.22 requestFilter: only the listed template OIDs, and only templates whose
 * minimum client and CA versions (privateKeyFlags bits 24–27 and 16–19) the client names. A nil
 * or empty filter filters nothing; so does a version of 0, which cepces sends for "unspecified"
 * (taken literally it would hide every schema-3 template from it). Returns a cache-key suffix too.
 */
export function applyRequestFilter<T extends { template: Template }>(visible: T[], f: { policyOids?: string[]; clientVersion?: number; serverVersion?: number }): { visible: T[]; key: string } {
  const oids = f.policyOids?.length ? new Set(f.policyOids) : undefined;
  const cv = f.clientVersion && f.clientVersion > 0 ? f.clientVersion : undefined;
  const sv = f.serverVersion && f.serverVersion > 0 ? f.serverVersion : undefined;
  if (!oids && cv === undefined && sv === undefined) return { visible, key: '' };
  const out = visible.filter(({ template: t }) => {
    if (oids && !oids.has(t.oid)) return false;
    const flags = privateKeyFlags(t);
    if (cv !== undefined && ((flags >>> 24) & 0xf) > cv) return false;
    if (sv !== undefined && ((flags >>> 16) & 0xf) > sv) return false;
    return true;
  });
  return { visible: out, key: `|${out.map((v) => v.template.name).join(',')}` };
}

/** Encoded GetPolicies answers kept per node (permission set × request filter × changed or not). */
export const POLICY_CACHE_MAX = 1000;

/** GetPolicies: the templates this caller may enroll for, with the CES URLs to use. */
export function cepOperation(core: Core, cesAuths: EndpointAuth[], o: { cacheMax?: number } = {}): SoapOperation {
  // The encoded answer per permission set (and changed / not changed): copied, never rebuilt.
  // Bounded (LRU): the keys are permission sets and request filters, which callers choose.
  const cache = new BoundedCache<string, Buffer>(o.cacheMax ?? POLICY_CACHE_MAX);
  let cacheVersion = -1;
  /** The CA certificate the cached responses name, and since when it issues. */
  let cacheCa: { der: Uint8Array | null; since: Date } = { der: null, since: new Date(0) };
  // A caller's visible templates and rights key, per principal object: the sign-in caches hand out
  // the same object for a credential (UsernameToken) or a connection (TLS certificate) for a while,
  // so repeated calls skip working the rights out. Kept for one template version; partners'
  // principals are not kept (their scope can change without a template version).
  const rights = new WeakMap<Principal, { version: number; visible: ReturnType<typeof visibleTemplates>; rightsKey: string }>();
  const rightsOf = (principal: Principal, templates: Template[]) => {
    const kept = principal.partner ? undefined : rights.get(principal);
    if (kept && kept.version === core.templates.version) return kept;
    const visible = visibleTemplates(principal, templates, principal.partner ? core.partners.scope(principal.partner) : undefined);
    const fresh = { version: core.templates.version, visible, rightsKey: permissionSetKey(visible) };
    if (!principal.partner) rights.set(principal, fresh);
    return fresh;
  };
  return {
    service: 'cep',
    actions: [XCEP_ACTION.getPolicies],
    async handle(env: SoapEnvelope, principal: Principal, _req: IncomingMessage) {
      const request = parseGetPolicies(env);
      const templates = await core.templates.list();
      const info = core.ca.info();
      // A renewed CA (opences ca renew) is a change of policy too: the response names the CA certificate.
      if (info.issuingCertificate !== cacheCa.der) {
        cache.clear();
        // First sight: since the certificate's start; a switch seen while serving: since now (the start is backdated).
        cacheCa = { der: info.issuingCertificate, since: cacheCa.der ? core.clock.now() : new Date(new X509Certificate(Buffer.from(info.issuingCertificate)).validFrom) };
      }
      const latest = await core.templates.latestChange();
      const notChanged = Boolean(request.lastUpdate && latest && request.lastUpdate.getTime() >= Math.max(latest.getTime(), cacheCa.since.getTime()));
      if (core.templates.version !== cacheVersion) {
        cache.clear();
        cacheVersion = core.templates.version;
      }
      const mine = rightsOf(principal, templates);
      const { visible, key: filterKey } = applyRequestFilter(mine.visible, request);
      const key = `${notChanged ? 'nc' : 'full'}|${mine.rightsKey}${filterKey}`;
      let body = cache.get(key);
      if (!body) {
        const xml = buildGetPoliciesResponseBody(
          buildPolicyResponse({
            policyId: core.deployment.policyId,
            friendlyName: core.config.policy.friendlyName,
            nextUpdateHours: core.config.policy.nextUpdateHours,
            notChanged,
            visible,
            caCertificate: info.issuingCertificate,
            cesUris: cesAuths.map((auth) => ({ auth, uri: `${core.config.publicUrl}${cesPath(info.name, auth)}`, renewalOnly: core.config.policy.renewalOnly.includes(auth) })),
          }),
        );
        body = Buffer.from(xml, 'utf8');
        cache.set(key, body);
      }
      return { action: XCEP_ACTION.getPoliciesResponse, body };
    },
  };
}
