import 'reflect-metadata';
import { X509Certificate as PeculiarCert, SubjectAlternativeNameExtension } from '@peculiar/x509';
import { X509Certificate } from 'node:crypto';
import type { NameAttribute, SanEntry } from '../ca/types.js';

const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'SERIALNUMBER',
  '1.2.840.113549.1.9.1': 'E',
  '0.9.2342.19200300.100.1.25': 'DC',
};

/** Subject, SANs and serial of a certificate we issued (renewals keep them). Not a hot path. */
export function certificateIdentity(der: Uint8Array): { serial: string; subject: NameAttribute[]; sans: SanEntry[] } {
  const c = new PeculiarCert(Buffer.from(der));
  const subject: NameAttribute[] = [];
  for (const rdn of c.subjectName.toJSON()) {
    for (const [type, values] of Object.entries(rdn)) {
      for (const v of values) subject.push({ type: SHORT_NAMES[type] ?? type, value: v });
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
  return { serial: normaliseSerial(c.serialNumber), subject, sans };
}

export function spkiOfCertificate(der: Uint8Array): Uint8Array {
  return new X509Certificate(Buffer.from(der)).publicKey.export({ type: 'spki', format: 'der' });
}

/** Serials are stored as lower-case hex without leading zero bytes. */
export function normaliseSerial(hex: string): string {
  const s = hex.toLowerCase().replace(/^(00)+/, '');
  return s === '' ? '0' : s;
}
