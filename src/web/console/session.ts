import { call, pageData, setCsrf } from '../shared/api.js';

export type Role = 'ca-admin' | 'cert-manager' | 'auditor';

export interface Session {
  principal: string;
  role: Role;
  method: string;
  csrf: string;
  expiresAt: string;
}

/** The session the page shell carried, if signed in. */
export function initialSession(): Session | null {
  const s = pageData<{ session?: Session }>().session ?? null;
  if (s) setCsrf(s.csrf);
  return s;
}

export async function signInWithToken(token: string): Promise<Session> {
  const s = await call<Session>('/console/session', { json: { token } });
  setCsrf(s.csrf);
  return s;
}

export async function signInWithCertificate(): Promise<Session> {
  const s = await call<Session>('/console/session/certificate', { method: 'POST' });
  setCsrf(s.csrf);
  return s;
}

export async function signOut(): Promise<void> {
  await call<void>('/console/session/end', { method: 'POST' });
}
