import type { IncomingMessage } from 'node:http';

/** The value of one cookie of the request (first occurrence), or undefined. No decoding: ours are base64url. */
export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/**
 * A `__Host-` cookie: the browser keeps it only when Secure, Path=/ and without Domain, so it is
 * bound to exactly this host (no sibling subdomain can set or read it). HttpOnly keeps it from
 * scripts; SameSite=Strict keeps it off cross-site requests. `maxAgeSeconds` 0 deletes it.
 */
export function hostCookie(name: string, value: string, maxAgeSeconds: number): string {
  return `${name}=${value}; Max-Age=${maxAgeSeconds}; Path=/; Secure; HttpOnly; SameSite=Strict`;
}
