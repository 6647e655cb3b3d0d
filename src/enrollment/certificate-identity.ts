import 'reflect-metadata';
import { X509Certificate as PeculiarCert, SubjectAlternativeNameExtension } from '@peculiar/x509';
import { X509Certificate } from 'node:crypto';
import type { NameAttribute, SanEntry } from '../ca/types.js';
import { NAME_OIDS } from '../protocol/pkcs10/names.js';
import { sidFromSecurityExtension, NTDS_CA_SECURITY_EXT } from '../ca/sid-extension.js';


/** Subject, SANs and serial of a certificate we issued (renewals keep them). Not a hot path. */
export function certificateIdentity(der: Uint8Array): { serial: string; subject: NameAttribute[]; sans: SanEntry[]; sid?: string } {
  const c = new PeculiarCert(Buffer.from(der));
  const subject: NameAttribute[] = [];
  for (const rdn of c.subjectName.toJSON()) {
    for (const [type, values] of Object.entries(rdn)) {
      for (const v of values) subject.push({ type: NAME_OIDS[type] ?? type, value: v });
    }
  }
  const sans: SanEntry[] = [];
  const ext = c.getExtension(SubjectAlternativeNameExtension);
  if (ext) {
    for (const n of ext.names.toJSON()) {
      if (n.type === 'dns') sans.push({ type: 'dns', value: n.value });
      else if (n.type === 'ip') sans.push({ type: 'ip', value: n.value });
      else if (n.type === 'email') sans.push({ type: 'email', value: n.value });
      else if (n.type === 'url') sans.push({ type: 'uri', value: n.value });
      else if (n.type === 'upn') sans.push({ type: 'upn', value: n.value });
    }
  }
  const sidExt = c.extensions.find((e) => e.type === NTDS_CA_SECURITY_EXT);
  const sid = sidExt ? sidFromSecurityExtension(new Uint8Array(sidExt.value)) : undefined;
  return { serial: normaliseSerial(c.serialNumber), subject, sans, ...(sid ? { sid } : {}) };
}

export function spkiOfCertificate(der: Uint8Array): Uint8Array {
  return new X509Certificate(Buffer.from(der)).publicKey.export({ type: 'spki', format: 'der' });
}

/** Serials are stored as lower-case hex without leading zero bytes. */
export function normaliseSerial(hex: string): string {
  const s = hex.toLowerCase().replace(/^(00)+/, '');
  return s === '' ? '0' : s;
}
