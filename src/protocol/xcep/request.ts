import { randomUUID } from 'node:crypto';
import { OpencesError } from '../../errors.js';
import type { SoapEnvelope } from '../soap/envelope.js';
import { NS } from '../soap/namespaces.js';
import { child, children, esc, isNil, optionalText, text } from '../soap/xml.js';
import { XCEP_ACTION, type GetPoliciesRequest } from './types.js';

function int(s: string | undefined, what: string): number | undefined {
  if (s === undefined) return undefined;
  if (!/^-?\d{1,10}$/.test(s)) throw new OpencesError('malformed', `${what} is not an integer`);
  return Number(s);
}

/** Server side: the typed GetPolicies request. */
export function parseGetPolicies(env: SoapEnvelope): GetPoliciesRequest {
  const op = env.operation;
  if (!op || op.namespaceURI !== NS.xcep || op.localName !== 'GetPolicies') {
    throw new OpencesError('malformed', `the body holds ${op ? `{${op.namespaceURI ?? ''}}${op.localName}` : 'nothing'}, not an MS-XCEP GetPolicies request`);
  }
  const client = child(op, NS.xcep, 'client');
  if (!client || isNil(client)) throw new OpencesError('malformed', 'GetPolicies has no client element (MS-XCEP 3.1.4.1.2.1)');
  const lu = optionalText(child(client, NS.xcep, 'lastUpdate'));
  let lastUpdate: Date | undefined;
  if (lu !== undefined) {
    lastUpdate = new Date(lu);
    if (Number.isNaN(lastUpdate.getTime())) throw new OpencesError('malformed', 'client/lastUpdate is not a valid dateTime');
  }
  const filter = child(op, NS.xcep, 'requestFilter');
  let policyOids: string[] | undefined;
  let clientVersion: number | undefined;
  let serverVersion: number | undefined;
  if (filter && !isNil(filter)) {
    const oids = child(filter, NS.xcep, 'policyOIDs');
    if (oids && !isNil(oids)) policyOids = children(oids, NS.xcep, 'oid').map((o) => (text(o) ?? '').trim()).filter(Boolean);
    clientVersion = int(optionalText(child(filter, NS.xcep, 'clientVersion')), 'requestFilter/clientVersion');
    serverVersion = int(optionalText(child(filter, NS.xcep, 'serverVersion')), 'requestFilter/serverVersion');
  }
  return { lastUpdate, preferredLanguage: optionalText(child(client, NS.xcep, 'preferredLanguage')), policyOids, clientVersion, serverVersion };
}

/** Client side: a GetPolicies envelope (headers added by the caller's security builder). */
export function buildGetPoliciesRequest(o: { to: string; securityHeaderXml?: string; lastUpdate?: Date; messageId?: string }): string {
  const nil = (n: string): string => `<${n} xsi:nil="true"/>`;
  return (
    `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="${NS.soap12}" xmlns:a="${NS.wsa}" xmlns:xsi="${NS.xsi}" xmlns:p="${NS.xcep}">` +
    `<s:Header><a:Action s:mustUnderstand="1">${XCEP_ACTION.getPolicies}</a:Action><a:MessageID>${esc(o.messageId ?? `urn:uuid:${randomUUID()}`)}</a:MessageID>` +
    `<a:To s:mustUnderstand="1">${esc(o.to)}</a:To>${o.securityHeaderXml ?? ''}</s:Header>` +
    `<s:Body><p:GetPolicies><p:client>${o.lastUpdate ? `<p:lastUpdate>${o.lastUpdate.toISOString()}</p:lastUpdate>` : nil('p:lastUpdate')}${nil('p:preferredLanguage')}</p:client>` +
    `<p:requestFilter>${nil('p:policyOIDs')}${nil('p:clientVersion')}${nil('p:serverVersion')}</p:requestFilter></p:GetPolicies></s:Body></s:Envelope>`
  );
}
