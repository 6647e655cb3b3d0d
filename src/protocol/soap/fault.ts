import type { SoapEnvelope } from './envelope.js';
import { NS } from './namespaces.js';
import { child, text, type El } from './xml.js';

export interface SoapFault {
  /** Local part of s:Code/s:Value when it is a SOAP 1.2 code (Sender, Receiver, …), else the raw text. */
  code: string;
  /** s:Subcode/s:Value as `{namespace}local` when its prefix resolves, else the raw text. */
  subcode?: string;
  /** The first s:Reason/s:Text. */
  reason: string;
  /** The s:Detail element, for a profile-specific reader (MS-WSTEP's CertificateEnrollmentWSDetail). */
  detailElement?: El;
}

function qnameText(el: El | undefined): string | undefined {
  const raw = text(el)?.trim();
  if (!el || raw === undefined || raw === '') return undefined;
  const i = raw.indexOf(':');
  const prefix = i > 0 ? raw.slice(0, i) : null;
  const local = i > 0 ? raw.slice(i + 1) : raw;
  const ns = el.lookupNamespaceURI(prefix);
  return ns ? `{${ns}}${local}` : raw;
}

/** Client side: the SOAP 1.2 fault in the Body, or null when the Body holds something else. */
export function parseSoapFault(env: SoapEnvelope): SoapFault | null {
  const f = env.operation;
  if (!f || f.namespaceURI !== NS.soap12 || f.localName !== 'Fault') return null;
  const codeEl = child(f, NS.soap12, 'Code');
  const value = qnameText(child(codeEl, NS.soap12, 'Value')) ?? '';
  const soapPrefix = `{${NS.soap12}}`;
  return {
    code: value.startsWith(soapPrefix) ? value.slice(soapPrefix.length) : value,
    subcode: qnameText(child(child(codeEl, NS.soap12, 'Subcode'), NS.soap12, 'Value')),
    reason: text(child(child(f, NS.soap12, 'Reason'), NS.soap12, 'Text'))?.trim() ?? '',
    detailElement: child(f, NS.soap12, 'Detail'),
  };
}
