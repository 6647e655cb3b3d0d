import type { Principal } from '../../auth/principal.js';

/** A principal as JSON text for web_sessions: the certificate's DER as base64 (JSON has no bytes). */
export function principalToJson(p: Principal): string {
  const { certificate, ...rest } = p;
  return JSON.stringify(certificate ? { ...rest, certificate: { ...certificate, der: Buffer.from(certificate.der).toString('base64') } } : rest);
}

export function principalFromJson(text: string): Principal {
  const o = JSON.parse(text) as Principal & { certificate?: { der: string; serial: string; issuer: string; subject: string } };
  if (typeof o.name !== 'string' || !Array.isArray(o.groups) || typeof o.method !== 'string') throw new Error('stored session principal is malformed');
  const { certificate, ...rest } = o;
  return certificate ? { ...rest, certificate: { ...certificate, der: new Uint8Array(Buffer.from(certificate.der, 'base64')) } } : rest;
}
