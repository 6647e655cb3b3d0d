import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics for /metrics; one registry per server so tests can run several. */
export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'endpoint' | 'outcome'>;
  readonly duration: Histogram<'endpoint'>;
  readonly enrollments: Counter<'template' | 'disposition'>;
  readonly authFailures: Counter<'method'>;
  readonly scep: Counter<'profile' | 'operation' | 'outcome'>;
  readonly tarpit: Counter<'outcome'>;
  readonly tarpitHeld: Gauge;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'opences_requests_total',
      help: 'Requests handled, by endpoint kind and outcome',
      labelNames: ['endpoint', 'outcome'],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: 'opences_request_duration_seconds',
      help: 'Request handling time',
      labelNames: ['endpoint'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [this.registry],
    });
    this.enrollments = new Counter({
      name: 'opences_enrollments_total',
      help: 'Enrollment decisions by template and disposition',
      labelNames: ['template', 'disposition'],
      registers: [this.registry],
    });
    this.authFailures = new Counter({
      name: 'opences_auth_failures_total',
      help: 'Failed authentications by method',
      labelNames: ['method'],
      registers: [this.registry],
    });
    this.scep = new Counter({
      name: 'opences_scep_requests_total',
      help: 'SCEP requests by profile, operation (GetCACaps, GetCACert, PKCSReq, RenewalReq, CertPoll, GetCert, GetCRL) and outcome (success, pending, failure, malformed)',
      labelNames: ['profile', 'operation', 'outcome'],
      registers: [this.registry],
    });
    this.tarpit = new Counter({
      name: 'opences_tarpit_refusals_total',
      help: 'SOAP bodies refused before authentication (XML limits, not well-formed, too large), by what the tarpit did: held (answered after tarpit.delayMs), free (within the source’s tarpit.freePerAddress: answered at once), full (tarpit.maxHeld reached: answered at once), immediate (tarpit off, or shutting down)',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.tarpitHeld = new Gauge({
      name: 'opences_tarpit_held_connections',
      help: 'Connections whose refusal the tarpit holds right now (this process)',
      registers: [this.registry],
    });
  }
}
