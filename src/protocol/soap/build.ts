import { randomUUID } from 'node:crypto';
import { NS, WSA_FAULT_ACTION } from './namespaces.js';
import { esc } from './xml.js';

const ENV_OPEN = `<s:Envelope xmlns:s="${NS.soap12}" xmlns:a="${NS.wsa}" xmlns:xsi="${NS.xsi}">`;

/** A SOAP 1.2 response with WS-Addressing Action and RelatesTo; the body is pre-serialised. */
export function buildResponseEnvelope(o: { action: string; relatesTo?: string; bodyXml: string; messageId?: string }): string {
  return (
    `<?xml version="1.0" encoding="utf-8"?>${ENV_OPEN}<s:Header>` +
    `<a:Action s:mustUnderstand="1">${esc(o.action)}</a:Action>` +
    (o.messageId ? `<a:MessageID>${esc(o.messageId)}</a:MessageID>` : '') +
    (o.relatesTo ? `<a:RelatesTo>${esc(o.relatesTo)}</a:RelatesTo>` : '') +
    `</s:Header><s:Body>${o.bodyXml}</s:Body></s:Envelope>`
  );
}

export interface FaultOptions {
  code: 'Sender' | 'Receiver' | 'MustUnderstand' | 'VersionMismatch';
  subcode?: { ns: string; local: string };
  reason: string;
  detailXml?: string;
  relatesTo?: string;
}

/** A SOAP 1.2 fault (§5.4) with the WS-Addressing fault action. */
export function buildFaultEnvelope(o: FaultOptions): string {
  const sub = o.subcode ? `<s:Subcode><s:Value xmlns:f="${esc(o.subcode.ns)}">f:${esc(o.subcode.local)}</s:Value></s:Subcode>` : '';
  return (
    `<?xml version="1.0" encoding="utf-8"?>${ENV_OPEN}<s:Header>` +
    `<a:Action s:mustUnderstand="1">${WSA_FAULT_ACTION}</a:Action>` +
    `<a:MessageID>urn:uuid:${randomUUID()}</a:MessageID>` +
    (o.relatesTo ? `<a:RelatesTo>${esc(o.relatesTo)}</a:RelatesTo>` : '') +
    `</s:Header><s:Body><s:Fault><s:Code><s:Value>s:${o.code}</s:Value>${sub}</s:Code>` +
    `<s:Reason><s:Text xml:lang="en-US">${esc(o.reason)}</s:Text></s:Reason>` +
    (o.detailXml ? `<s:Detail>${o.detailXml}</s:Detail>` : '') +
    `</s:Fault></s:Body></s:Envelope>`
  );
}
