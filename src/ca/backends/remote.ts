import { Agent, request } from 'undici';
import { OpencesError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { CaBackend, CaInfo, CrlPublisher, IssuanceOrder, IssueOptions, IssuedCertificate, PkiResponder, RevocationReason } from '../types.js';
import { CircuitBreaker } from './breaker.js';
import { CA_API_PREFIX, KnownCertificates, MAX_BATCH, crlSchema, decodeBatchResults, decodeIssued, decodeInfo, encodeOrder, errorFromProblem, featuresSchema, parse, pkiResponseSchema, problemSchema, type IssuanceAuditJson } from './wire.js';

export interface RemoteCaOptions {
  /** Base URL of the CA node's signing API, e.g. https://ca.internal:9443 */
  url: string;
  /** This node's client certificate (PEM, with any intermediates) and key. */
  certPem: string;
  keyPem: string;
  /** Trusted for the CA node's TLS certificate. */
  caBundlePem: string;
  /** The CA's certificates (from the shared database); info() never waits on the network. */
  info: CaInfo;
  timeoutMs?: number;
  /** Extra attempts after the first for idempotent calls (issue, info, CRL). */
  retries?: number;
  breaker?: { failures: number; openMs: number };
  /** Whether the CA publishes delta CRLs (as configured on the CA node: ca.deltaCrlPeriodHours). */
  deltaCrls?: boolean;
  log?: Logger;
}

/**
 * Batches one enrollment process has at the CA node at once. Sent as soon as they formed, most
 * batches under load held one order (74 % in the split benchmark), each paying for a whole HTTPS
 * exchange on both nodes; with two in flight the others wait for an answer, about one CA round
 * trip, and batches grow (average 5.7 → 7.4 orders, 40 % fewer exchanges). Two, not one, so a
 * batch held up by a slow order does not hold back every other.
 */
const BATCHES_IN_FLIGHT = 2;

/** A failure worth another attempt: no answer, or the CA said it is (temporarily) unable. */
class Transient extends Error {}

/**
 * What of the RA's issuance audit event travels with the order: the CA node rebuilds the event
 * from the order (type, principal, template, request) and records it with the certificate; only
 * the approving officer and the requester's sign-in method come from here.
 */
function issuanceAudit(opts: IssueOptions): IssuanceAuditJson | undefined {
  if (!opts.audit) return undefined;
  const e: unknown = JSON.parse(opts.audit.event);
  if (typeof e !== 'object' || e === null) return {};
  const pick = (k: string): string | undefined => {
    const v = (e as Record<string, unknown>)[k];
    return typeof v === 'string' ? v : undefined;
  };
  const [actor, method] = [pick('actor'), pick('method')];
  return { ...(actor ? { actor } : {}), ...(method ? { method } : {}) };
}

interface Waiting {
  order: IssuanceOrder;
  audit?: IssuanceAuditJson;
  fullResponse?: boolean;
  resolve: (c: IssuedCertificate) => void;
  reject: (e: unknown) => void;
}

/**
 * CaBackend over the CA node's signing API (src/http/ca-api.ts): JSON over mutual TLS. This node
 * holds no CA key. An order is retried under its orderId, which the CA's issue() is idempotent on,
 * so a retry never issues twice; while the CA does not answer, a circuit breaker fails calls at once
 * with an `unavailable` error ("the CA is unreachable") that the front end turns into a fault.
 */
export class RemoteCa implements CaBackend, CrlPublisher, PkiResponder {
  private readonly agent: Agent;
  private readonly breaker: CircuitBreaker;
  private readonly base: string;
  private waiting: Waiting[] = [];
  private flushScheduled = false;
  /** The CA node predates order batches (404): one order per call from then on. */
  private singleOrders = false;
  /** Batches at the CA node now (at most BATCHES_IN_FLIGHT). */
  private inFlight = 0;
  /** The CA's chain as this node knows it: answers repeating it are not decoded again. */
  private known: KnownCertificates;

  constructor(private o: RemoteCaOptions) {
    const timeout = o.timeoutMs ?? 10_000;
    this.base = o.url.replace(/\/+$/, '');
    this.agent = new Agent({
      connect: { ca: o.caBundlePem, cert: o.certPem, key: o.keyPem, timeout, rejectUnauthorized: true },
      headersTimeout: timeout,
      bodyTimeout: timeout,
      keepAliveTimeout: 30_000,
    });
    this.breaker = new CircuitBreaker(o.breaker ?? { failures: 3, openMs: 5_000 });
    this.known = new KnownCertificates(o.info.chain);
  }

  info(): CaInfo {
    return this.o.info;
  }

  /** The CA node renewed its certificate (announced through the database, src/app/cache-bus.ts): GetPolicies and chains carry the new one. */
  useInfo(info: CaInfo): void {
    this.o = { ...this.o, info };
    this.known = new KnownCertificates(info.chain);
  }

  /**
   * Orders go to the CA together (POST /orders/batch, up to MAX_BATCH per call): under load the
   * HTTPS exchange, the CA's authorisation and the JSON parse are shared. A batch leaves at the end
   * of the event-loop turn, unless BATCHES_IN_FLIGHT are at the CA already: then orders gather
   * until one is answered. A lone order is a batch of one (the CA node's fast path takes batches
   * only). Retries resend the whole batch; the CA is idempotent on each orderId, so nothing is
   * issued twice.
   */
  issue(order: IssuanceOrder, opts: IssueOptions = {}): Promise<IssuedCertificate> {
    const audit = issuanceAudit(opts);
    return new Promise((resolve, reject) => {
      this.waiting.push({ order, ...(audit ? { audit } : {}), ...(opts.fullResponse ? { fullResponse: true } : {}), resolve, reject });
      this.scheduleFlush();
    });
  }

  /** Sends what waits at the end of this event-loop turn (once, however many orders arrive in it). */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flushOrders());
  }

  private flushOrders(): void {
    this.flushScheduled = false;
    while (this.waiting.length && this.inFlight < BATCHES_IN_FLIGHT) {
      this.inFlight++;
      const batch = this.waiting.splice(0, MAX_BATCH);
      void this.send(batch)
        .catch((e: unknown) => {
          for (const w of batch) w.reject(e);
        })
        .finally(() => {
          this.inFlight--;
          if (this.waiting.length) this.scheduleFlush();
        });
    }
  }

  /**
   * What the CA node understands beyond the first API version (GET /ca/v1/features), asked once: a
   * CA node without the call (404, older) understands none of it, and is sent nothing it would
   * refuse. Until the answer is known, and after a failed ask (asked again next time), nothing extra.
   */
  private features: Promise<ReadonlySet<string>> | undefined;
  private async supports(feature: string): Promise<boolean> {
    this.features ??= this.call('GET', '/features', undefined, { retry: false }).then(
      (b) => new Set(parse(featuresSchema, b, 'features').features),
      (e: unknown) => {
        if (e instanceof OpencesError && e.kind === 'notFound') return new Set<string>();
        this.features = undefined;
        return new Set<string>();
      },
    );
    return (await this.features).has(feature);
  }

  private async send(batch: Waiting[]): Promise<void> {
    // The issuance audit event goes with the orders only to a CA node that records it.
    if (!(await this.supports('issuanceAudit'))) for (const w of batch) delete w.audit;
    const chainOnce = await this.supports('chainOnce');
    // A CA node that signs no full responses is not asked to (the front end then answers unsigned).
    if (!(await this.supports('fullResponse'))) for (const w of batch) delete w.fullResponse;
    // An older CA node would refuse the field: without it, it refuses such an order as it always did (no possession).
    if (!(await this.supports('possessionSignedData'))) for (const w of batch) if (w.order.possessionSignedData) w.order = { ...w.order, possessionSignedData: undefined };
    if (this.singleOrders) {
      await Promise.all(batch.map(async (w) => this.issueOne(w).then(w.resolve, w.reject)));
      return;
    }
    let results: (IssuedCertificate | Error)[];
    try {
      results = decodeBatchResults(await this.call('POST', '/orders/batch', { orders: batch.map((w) => encodeOrder(w.order, w.audit, w.fullResponse)), ...(chainOnce ? { chainOnce: true } : {}) }, { retry: true }), batch.length, this.known);
    } catch (e) {
      if (e instanceof OpencesError && e.kind === 'notFound' && e.message === 'no such CA API resource') {
        this.singleOrders = true;
        this.o.log?.warn({ ca: this.base }, 'the CA node has no order batches (older version): sending one order per call');
        return this.send(batch);
      }
      for (const w of batch) w.reject(e);
      return;
    }
    await Promise.all(
      results.map(async (r, i) => {
        const w = batch[i]!;
        if (!(r instanceof Error)) return w.resolve(r);
        // "Unavailable" for one order (its database call failed on the CA): that order alone gets
        // the single-order path's retries and counts towards the circuit breaker.
        if (r instanceof OpencesError && r.kind === 'unavailable') return this.issueOne(w).then(w.resolve, w.reject);
        w.reject(r);
      }),
    );
  }

  private async issueOne(w: Waiting): Promise<IssuedCertificate> {
    return decodeIssued(await this.call('POST', '/orders', encodeOrder(w.order, w.audit, w.fullResponse), { retry: true }), this.known);
  }

  /** The CA node's signed CMC full response for a recorded request; null when the CA node predates them. */
  async pkiResponse(requestId: string): Promise<Uint8Array | null> {
    if (!(await this.supports('pkiResponses'))) return null;
    return parse(pkiResponseSchema, await this.call('POST', '/responses', { requestId }, { retry: true }), 'CMC response').response;
  }

  /** Not retried after a lost answer: a second revoke would report a conflict for our own first one. */
  async revoke(serial: string, reason: RevocationReason, at?: Date): Promise<void> {
    await this.call('POST', `/certificates/${encodeURIComponent(serial)}/revoke`, { reason, ...(at ? { at: at.toISOString() } : {}) }, { retry: false });
  }

  async unrevoke(serial: string): Promise<void> {
    await this.call('POST', `/certificates/${encodeURIComponent(serial)}/unrevoke`, {}, { retry: false });
  }

  async publishCrl(opts: { delta?: boolean } = {}): Promise<Uint8Array> {
    return parse(crlSchema, await this.call('POST', '/crls', { delta: opts.delta === true }, { retry: true }), 'CRL').crl;
  }

  /** The CA node's own view of its certificates (GET /ca/v1/info). */
  async fetchInfo(): Promise<CaInfo> {
    return decodeInfo(await this.call('GET', '/info', undefined, { retry: true }));
  }

  get deltaCrls(): boolean {
    return this.o.deltaCrls === true;
  }

  get circuit(): 'closed' | 'open' | 'half-open' {
    return this.breaker.state;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async call(method: 'GET' | 'POST', path: string, body: unknown, o: { retry: boolean }): Promise<unknown> {
    const attempts = o.retry ? 1 + (this.o.retries ?? 2) : 1;
    let last = '';
    for (let i = 0; i < attempts; i++) {
      const wait = this.breaker.blockedFor();
      if (wait > 0) {
        throw new OpencesError('unavailable', `the CA is unreachable (${last || 'recent calls failed'}); retry in ${Math.ceil(wait / 1000)} s`, { retryAfterMs: wait });
      }
      try {
        const out = await this.once(method, path, body);
        this.breaker.success();
        return out;
      } catch (e) {
        if (!(e instanceof Transient)) {
          // The CA answered (with a typed refusal): it is reachable.
          this.breaker.success();
          throw e;
        }
        this.breaker.failure();
        last = e.message;
        this.o.log?.warn({ ca: this.base, path, attempt: i + 1, error: e.message }, 'remote CA call failed');
        if (i + 1 < attempts) await new Promise((r) => setTimeout(r, 100 * 2 ** i));
      }
    }
    throw new OpencesError('unavailable', `the CA is unreachable (${last})`);
  }

  private async once(method: 'GET' | 'POST', path: string, body: unknown): Promise<unknown> {
    let status: number;
    let text: string;
    try {
      const r = await request(`${this.base}${CA_API_PREFIX}${path}`, {
        method,
        dispatcher: this.agent,
        headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      status = r.statusCode;
      text = await r.body.text();
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new Transient(err.code ? `${err.code}: ${err.message}` : err.message);
    }
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      if (status >= 500) throw new Transient(`HTTP ${status}`);
      throw new OpencesError('internal', `the CA answered HTTP ${status} with a body that is not JSON`);
    }
    if (status >= 200 && status < 300) return json;
    const p = problemSchema.safeParse(json);
    if (status === 502 || status === 503 || status === 504 || (status >= 500 && !p.success)) throw new Transient(p.success ? p.data.detail : `HTTP ${status}`);
    // The CA's typed refusal, as if the engine were local (a bad order is the RA's denial, not an outage).
    throw errorFromProblem(json) ?? new OpencesError('internal', `the CA answered HTTP ${status}`);
  }
}
