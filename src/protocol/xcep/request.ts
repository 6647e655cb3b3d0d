import { OpencesError } from '../../errors.js';
import { buildRequestEnvelope } from '../soap/build.js';
import type { SoapEnvelope } from '../soap/envelope.js';
import { NS } from '../soap/namespaces.js';
import { buildUsernameTokenHeader, formatDateTime, parseDateTime } from '../soap/wssecurity.js';
import { child, children, esc, isNil, optionalText, text } from '../soap/xml.js';
import { XCEP_ACTION, type GetPoliciesRequest } from './types.js';

const MAX_FILTER_OIDS = 1000;
const OID = /^[0-2](\.(0|[1-9]\d{0,19}))+$/;

function int32(s: string | undefined, what: string): number | undefined {
  if (s === undefined) return undefined;
  if (!/^[+-]?\d{1,10}$/.test(s)) throw new OpencesError('malformed', `${what} is not an integer`, { field: what });
  const n = Number(s);
  if (n < -2147483648 || n > 2147483647) throw new OpencesError('malformed', `${what} is out of the xs:int range`, { field: what });
  return n;
}

function lastUpdateOf(s: string | undefined): Date | undefined {
  // MS-XCEP 3.1.4.1.3.9: lastUpdate is GMT; a value we cannot read is treated like a nil one
  // (the client gets the full policy), which is what a missing lastUpdate already means. The
  // specification's own example (4.1.2.1) sends a malformed value, so refusing would break clients.
  try {
    const d = parseDateTime(s, 'client/lastUpdate');
    return d && d.getUTCFullYear() > 1 ? d : undefined; // 0001-01-01T00:00:00 is .NET's "never"
  } catch {
    return undefined;
  }
}

/** Server side: the typed GetPolicies request (MS-XCEP 3.1.4.1.1.1). */
export function parseGetPolicies(env: SoapEnvelope): GetPoliciesRequest {
  const op = env.operation;
  if (!op || op.namespaceURI !== NS.xcep || op.localName !== 'GetPolicies') {
    throw new OpencesError('malformed', `the body holds ${op ? `{${op.namespaceURI ?? ''}}${op.localName}` : 'nothing'}, not an MS-XCEP GetPolicies request`);
  }
  const client = child(op, NS.xcep, 'client');
  if (!client || isNil(client)) throw new OpencesError('malformed', 'GetPolicies has no client element (MS-XCEP 3.1.4.1.2.1 requires it)', { field: 'client' });
  const out: GetPoliciesRequest = {};
  const lastUpdate = lastUpdateOf(optionalText(child(client, NS.xcep, 'lastUpdate')));
  if (lastUpdate) out.lastUpdate = lastUpdate;
  const lang = optionalText(child(client, NS.xcep, 'preferredLanguage'));
  if (lang !== undefined) {
    if (!/^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$/.test(lang)) throw new OpencesError('malformed', 'client/preferredLanguage is not an xs:language tag', { field: 'preferredLanguage' });
    out.preferredLanguage = lang;
  }
  const filter = child(op, NS.xcep, 'requestFilter');
  if (filter && !isNil(filter)) {
    const oids = child(filter, NS.xcep, 'policyOIDs');
    if (oids && !isNil(oids)) {
      const list = children(oids, NS.xcep, 'oid');
      if (list.length > MAX_FILTER_OIDS) throw new OpencesError('malformed', `requestFilter/policyOIDs lists more than ${MAX_FILTER_OIDS} OIDs`);
      const values = list.map((o) => (text(o) ?? '').trim()).filter((v) => v !== '');
      for (const v of values) if (!OID.test(v)) throw new OpencesError('malformed', `requestFilter/policyOIDs holds ${JSON.stringify(v.slice(0, 64))}, which is not an OID`);
      // An empty list means no filtering (3.1.4.1.3.22), the same as nil.
      if (values.length) out.policyOids = values;
    }
    const cv = int32(optionalText(child(filter, NS.xcep, 'clientVersion')), 'requestFilter/clientVersion');
    const sv = int32(optionalText(child(filter, NS.xcep, 'serverVersion')), 'requestFilter/serverVersion');
    if (cv !== undefined) out.clientVersion = cv;
    if (sv !== undefined) out.serverVersion = sv;
  }
  return out;
}

export interface GetPoliciesRequestOptions {
  /** The CEP URL (WS-Addressing To). */
  to: string;
  messageId?: string;
  /** A ready wsse:Security header (the prefix `s` is bound to SOAP 1.2). */
  securityHeaderXml?: string;
  /** Or: a PasswordText UsernameToken header built here. */
  usernameToken?: { username: string; password: string; nonce?: Uint8Array; created?: Date };
  lastUpdate?: Date;
  preferredLanguage?: string;
  policyOids?: string[];
  clientVersion?: number;
  serverVersion?: number;
}

const nilEl = (n: string): string => `<p:${n} xsi:nil="true"/>`;

/** Client side: a GetPolicies envelope, shaped like the one cepces sends. */
export function buildGetPoliciesRequest(o: GetPoliciesRequestOptions): string {
  const security = o.securityHeaderXml ?? (o.usernameToken ? buildUsernameTokenHeader(o.usernameToken) : undefined);
  const num = (n: string, v: number | undefined): string => (v === undefined ? nilEl(n) : `<p:${n}>${Math.trunc(v)}</p:${n}>`);
  const body =
    `<p:GetPolicies xmlns:p="${NS.xcep}"><p:client>` +
    (o.lastUpdate ? `<p:lastUpdate>${formatDateTime(o.lastUpdate)}</p:lastUpdate>` : nilEl('lastUpdate')) +
    (o.preferredLanguage ? `<p:preferredLanguage>${esc(o.preferredLanguage)}</p:preferredLanguage>` : nilEl('preferredLanguage')) +
    `</p:client><p:requestFilter>` +
    (o.policyOids?.length ? `<p:policyOIDs>${o.policyOids.map((x) => `<p:oid>${esc(x)}</p:oid>`).join('')}</p:policyOIDs>` : nilEl('policyOIDs')) +
    num('clientVersion', o.clientVersion) +
    num('serverVersion', o.serverVersion) +
    `</p:requestFilter></p:GetPolicies>`;
  return buildRequestEnvelope({ action: XCEP_ACTION.getPolicies, to: o.to, messageId: o.messageId, securityHeaderXml: security, bodyXml: body });
}
