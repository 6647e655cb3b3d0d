import { randomUUID } from 'node:crypto';
import { NS, WSA_FAULT_ACTION } from './namespaces.js';
import { esc } from './xml.js';

// Built by concatenation: the envelope around a cached body costs a few string joins per request.
const XML_DECL = '<?xml version="1.0" encoding="utf-8"?>';
const ENV_OPEN = `${XML_DECL}<s:Envelope xmlns:s="${NS.soap12}" xmlns:a="${NS.wsa}" xmlns:xsi="${NS.xsi}"><s:Header>`;

export interface ResponseEnvelopeOptions {
  /** The WS-Addressing action of the response (e.g. …/IPolicy/GetPoliciesResponse). */
  action: string;
  /** The request's MessageID. */
  relatesTo?: string;
  /** Pre-serialised body content (may declare its own namespaces; `xsi` is declared on the Envelope). */
  bodyXml: string;
  messageId?: string;
  /**
   * A WCF diagnostics ActivityId header (a GUID, without braces), as ADCS's services send after
   * the Action; clients ignore it, log correlators use it.
   */
  activityId?: string;
  /** The header's CorrelationId: WCF writes a GUID of its own per message (ADCS captures); defaults to activityId. */
  correlationId?: string;
}

/** The namespace of WCF's ActivityId header (System.ServiceModel diagnostics). */
export const WCF_DIAGNOSTICS_NS = 'http://schemas.microsoft.com/2004/09/ServiceModel/Diagnostics';
const activityHeader = (id: string | undefined, correlationId = id): string =>
  id ? `<ActivityId CorrelationId="${esc(correlationId ?? id)}" xmlns="${WCF_DIAGNOSTICS_NS}">${esc(id)}</ActivityId>` : '';

function responseHead(o: Omit<ResponseEnvelopeOptions, 'bodyXml'>): string {
  return (
    ENV_OPEN +
    `<a:Action s:mustUnderstand="1">${esc(o.action)}</a:Action>` +
    activityHeader(o.activityId, o.correlationId) +
    (o.messageId ? `<a:MessageID>${esc(o.messageId)}</a:MessageID>` : '') +
    (o.relatesTo ? `<a:RelatesTo>${esc(o.relatesTo)}</a:RelatesTo>` : '') +
    `</s:Header><s:Body>`
  );
}
const RESPONSE_TAIL = '</s:Body></s:Envelope>';
const RESPONSE_TAIL_BYTES = Buffer.from(RESPONSE_TAIL);

/** A SOAP 1.2 response with WS-Addressing Action and RelatesTo. */
export function buildResponseEnvelope(o: ResponseEnvelopeOptions): string {
  return responseHead(o) + o.bodyXml + RESPONSE_TAIL;
}

/** The envelope's opening up to the Action, encoded once per action (responses have a handful). */
const actionHeads = new Map<string, Buffer>();
function actionHead(action: string): Buffer {
  let b = actionHeads.get(action);
  if (!b) {
    b = Buffer.from(`${ENV_OPEN}<a:Action s:mustUnderstand="1">${esc(action)}</a:Action>`, 'utf8');
    if (actionHeads.size < 64) actionHeads.set(action, b);
  }
  return b;
}

/**
 * The same response as UTF-8 bytes around a body that is already encoded: a cached body (the
 * GetPolicies answer for a permission set) is copied, not re-encoded, per request, and so is the
 * envelope's opening; only the per-message headers are encoded.
 */
export function buildResponseEnvelopeBytes(o: Omit<ResponseEnvelopeOptions, 'bodyXml'> & { body: Uint8Array }): Buffer {
  const start = actionHead(o.action);
  const middle =
    activityHeader(o.activityId, o.correlationId) +
    (o.messageId ? `<a:MessageID>${esc(o.messageId)}</a:MessageID>` : '') + (o.relatesTo ? `<a:RelatesTo>${esc(o.relatesTo)}</a:RelatesTo>` : '') + '</s:Header><s:Body>';
  const middleLength = Buffer.byteLength(middle, 'utf8');
  const out = Buffer.allocUnsafe(start.length + middleLength + o.body.length + RESPONSE_TAIL_BYTES.length);
  let at = start.copy(out, 0);
  at += out.write(middle, at, 'utf8');
  out.set(o.body, at);
  at += o.body.length;
  RESPONSE_TAIL_BYTES.copy(out, at);
  return out;
}

export interface FaultOptions {
  /** SOAP 1.2 fault code (part 1 §5.4.6); Sender and Receiver are the usual two. */
  code: 'Sender' | 'Receiver' | 'MustUnderstand' | 'VersionMismatch' | 'DataEncodingUnknown';
  subcode?: { ns: string; local: string };
  reason: string;
  /** Pre-serialised s:Detail content, e.g. buildEnrollmentFaultDetail(). */
  detailXml?: string;
  relatesTo?: string;
  /** Defaults to the WS-Addressing fault action. */
  action?: string;
  /** WCF's faults carry none (the MS-WSTEP examples and ADCS captures): only when asked for. */
  messageId?: string;
  /** WCF's diagnostics ActivityId, which its faults carry after RelatesTo (ADCS captures). */
  activityId?: string;
  correlationId?: string;
}

/**
 * A SOAP 1.2 fault (part 1 §5.4) with `s:Reason/s:Text xml:lang="en-US"`, the WS-Addressing fault
 * action unless another is given, and the header order of WCF's faults: Action, RelatesTo, ActivityId.
 */
export function buildFaultEnvelope(o: FaultOptions): string {
  const sub = o.subcode ? `<s:Subcode><s:Value xmlns:f="${esc(o.subcode.ns)}">f:${esc(o.subcode.local)}</s:Value></s:Subcode>` : '';
  return (
    ENV_OPEN +
    `<a:Action s:mustUnderstand="1">${esc(o.action ?? WSA_FAULT_ACTION)}</a:Action>` +
    (o.messageId ? `<a:MessageID>${esc(o.messageId)}</a:MessageID>` : '') +
    (o.relatesTo ? `<a:RelatesTo>${esc(o.relatesTo)}</a:RelatesTo>` : '') +
    activityHeader(o.activityId, o.correlationId) +
    `</s:Header><s:Body><s:Fault><s:Code><s:Value>s:${o.code}</s:Value>${sub}</s:Code>` +
    `<s:Reason><s:Text xml:lang="en-US">${esc(o.reason)}</s:Text></s:Reason>` +
    (o.detailXml ? `<s:Detail>${o.detailXml}</s:Detail>` : '') +
    `</s:Fault></s:Body></s:Envelope>`
  );
}

/** Client side: a request envelope (prefixes s, a, xsi declared; `extraNs` adds more on the Envelope). */
export function buildRequestEnvelope(o: { action: string; to: string; messageId?: string; securityHeaderXml?: string; bodyXml: string; extraNs?: string }): string {
  return (
    `${XML_DECL}<s:Envelope xmlns:s="${NS.soap12}" xmlns:a="${NS.wsa}" xmlns:xsi="${NS.xsi}"${o.extraNs ?? ''}><s:Header>` +
    `<a:Action s:mustUnderstand="1">${esc(o.action)}</a:Action><a:MessageID>${esc(o.messageId ?? `urn:uuid:${randomUUID()}`)}</a:MessageID>` +
    `<a:To s:mustUnderstand="1">${esc(o.to)}</a:To>${o.securityHeaderXml ?? ''}</s:Header><s:Body>${o.bodyXml}</s:Body></s:Envelope>`
  );
}
