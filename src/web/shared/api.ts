/** What the server put into the page shell (src/http/web/assets.ts): read once. */
export function pageData<T>(): T {
  const el = document.getElementById('opences-data');
  return (el?.textContent ? JSON.parse(el.textContent) : {}) as T;
}

/** An RFC 9457 problem the server answered with. */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly field?: string,
    readonly line?: number,
  ) {
    super(detail);
  }
}

/** Fired on window when an API call answers 401. */
export const SIGNED_OUT_EVENT = 'opences:signed-out';

let csrfToken = '';
/** The session's CSRF token: sent as X-CSRF-Token on every state-changing request. */
export function setCsrf(token: string): void {
  csrfToken = token;
}

export interface CallOptions {
  method?: string;
  json?: unknown;
  text?: string;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
}

/** A same-origin request with the session cookie and, for state changes, the CSRF token; problems become `Problem`. */
export async function call<T>(path: string, o: CallOptions = {}): Promise<T> {
  const method = o.method ?? (o.json !== undefined || o.text !== undefined ? 'POST' : 'GET');
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
  if (method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = csrfToken;
  let body: string | undefined;
  if (o.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(o.json);
  } else if (o.text !== undefined) {
    headers['content-type'] = o.contentType ?? 'text/plain';
    body = o.text;
  }
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined && v !== '') q.set(k, String(v));
  const url = q.size ? `${path}?${q}` : path;
  const res = await fetch(url, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  if (res.status === 204) return undefined as T;
  const type = res.headers.get('content-type') ?? '';
  if (!res.ok) {
    // The session ended (expired, idle, signed out elsewhere, its token revoked): the page says so and shows sign-in.
    if (res.status === 401 && !path.endsWith('/session') && !path.endsWith('/session/certificate')) dispatchEvent(new CustomEvent(SIGNED_OUT_EVENT));
    if (type.includes('json')) {
      const p = (await res.json()) as { status?: number; detail?: string; title?: string; field?: string; line?: number };
      throw new Problem(res.status, p.detail ?? p.title ?? `HTTP ${res.status}`, p.field, p.line);
    }
    throw new Problem(res.status, `HTTP ${res.status}`);
  }
  return (type.includes('json') ? await res.json() : await res.text()) as T;
}
