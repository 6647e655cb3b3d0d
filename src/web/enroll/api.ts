import { Problem, call as sharedCall } from '../shared/api.js';
import type { RequestSummary, RequestView } from '../../http/enroll/wire.js';

export type { RequestSummary, RequestView };

/** What /enroll/api answers (src/http/enroll/views.ts). */
export interface SessionInfo {
  principal: { name: string; displayName: string; method: string };
  csrf: string;
  expiresAt: string;
}

export interface TemplateOffer {
  name: string;
  displayName: string;
  keyAlgorithms: ('RSA' | 'ECDSA_P256' | 'ECDSA_P384')[];
  minimalKeyLength: number;
  hashAlgorithm: 'SHA256' | 'SHA384' | 'SHA512';
  enrolleeSupplies: boolean;
  allowedSanTypes: string[];
  requireSan: string[];
  approval: boolean;
}

export { Problem, setCsrf } from '../shared/api.js';

export const API = '/enroll/api';

let sessionEnded: (() => void) | undefined;
/** Called when the server answers 401: the session expired, went idle or was ended elsewhere. */
export function onSessionEnded(fn: () => void): void {
  sessionEnded = fn;
}

/** A call of /enroll/api with the shared client (the session's CSRF token on every state change). */
export async function call<T>(method: 'GET' | 'POST', path: string, json?: unknown): Promise<T> {
  try {
    return await sharedCall<T>(`${API}${path}`, { method, ...(json !== undefined ? { json } : {}) });
  } catch (e) {
    if (e instanceof Problem && e.status === 401) sessionEnded?.();
    throw e;
  }
}
