import type { IncomingMessage } from 'node:http';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';
import { AddressBudget, addressKey } from '../address-budget.js';

export interface TarpitOptions {
  /** How long a refusal is held before it is sent; 0 sends it at once. */
  delayMs: number;
  /** Connections held at once by this process; a refusal beyond them is sent at once. */
  maxHeld: number;
  /**
   * Refusals per source address (an IPv6 caller's /64) answered at once before the tarpit holds
   * that address's: the bucket holds this many and refills at this many a minute. 0: none.
   */
  freePerAddress: number;
  /** Refusals answered at once per second by this process, all addresses together (burst: freePerAddress). */
  freePerSecond: number;
}

/** Source addresses whose budget is remembered per process; the least recently seen is forgotten first. */
const MAX_TRACKED_ADDRESSES = 10_000;

interface Held {
  timer: NodeJS.Timeout;
  release(): void;
}

/** How often, at most, a full tarpit is logged (a flood would otherwise write a line per request). */
const FULL_LOG_INTERVAL_MS = 60_000;

/**
 * Holds the refusal of a hostile SOAP body (one refused before a credential was checked) for a
 * while before sending it, with the connection no longer read: TCP back-pressure stops the
 * sender, and a sender that waits for its answer before the next try sends one body per delay
 * instead of one per parse. Answering at once let each unauthenticated sender cost the server a
 * TLS handshake and a parse about every 10 ms (docs/benchmarks.md, "Under attack").
 *
 * Holding costs a file descriptor, a timer and the socket's buffers (its reading is paused, so
 * what the sender keeps sending waits in the kernel and then in its own buffers), so at most
 * `maxHeld` connections are held at once; a refusal beyond them is sent at once, as without the
 * tarpit. Every refusal goes out with `Connection: close` (set by the caller). `close()` sends
 * what is held at once, so a stopping server leaves no timer or connection behind.
 *
 * A source's first few refusals are answered at once (`freePerAddress`, refilled over a minute, and
 * at most `freePerSecond` for all sources together): a client with a bug, or an operator trying a
 * request by hand, gets its fault without the wait; a sender that keeps sending bad bodies is held
 * after a few of them, however many addresses it spreads them over.
 */
export class Tarpit {
  private readonly held = new Set<Held>();
  private closed = false;
  private lastFullLog = -Infinity;
  private readonly budget: AddressBudget;

  constructor(
    private readonly o: TarpitOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    now: () => number = Date.now,
  ) {
    this.budget = new AddressBudget(
      {
        capacity: o.freePerAddress,
        perMs: o.freePerAddress / 60_000,
        sharedCapacity: Math.max(o.freePerAddress, o.freePerSecond),
        sharedPerMs: o.freePerSecond / 1000,
        maxKeys: MAX_TRACKED_ADDRESSES,
      },
      now,
    );
  }

  /** Connections held right now. */
  get size(): number {
    return this.held.size;
  }

  /**
   * Stops reading `req`'s connection and calls `answer` after the delay — at once when the delay
   * is 0, the source still has free refusals, the tarpit is full or closed, or the connection is
   * already gone. If the peer goes away while held, nothing is sent.
   */
  hold(req: IncomingMessage, answer: () => void): void {
    const socket = req.socket;
    if (this.o.delayMs <= 0 || this.closed || socket.destroyed) {
      this.metrics.tarpit.inc({ outcome: 'immediate' });
      return answer();
    }
    if (this.budget.take(addressKey(socket.remoteAddress))) {
      this.metrics.tarpit.inc({ outcome: 'free' });
      return answer();
    }
    if (this.held.size >= this.o.maxHeld) {
      this.metrics.tarpit.inc({ outcome: 'full' });
      const now = Date.now();
      if (now - this.lastFullLog >= FULL_LOG_INTERVAL_MS) {
        this.lastFullLog = now;
        this.log.warn({ held: this.held.size, maxHeld: this.o.maxHeld }, 'tarpit full: hostile SOAP bodies refused at once (tarpit.maxHeld)');
      }
      return answer();
    }
    req.pause();
    socket.pause();
    const done = (send: boolean): void => {
      clearTimeout(entry.timer);
      socket.off('close', gone);
      this.held.delete(entry);
      this.metrics.tarpitHeld.set(this.held.size);
      if (send) answer();
    };
    const gone = (): void => done(false);
    const entry: Held = { timer: setTimeout(() => done(true), this.o.delayMs), release: () => done(true) };
    socket.once('close', gone);
    this.held.add(entry);
    this.metrics.tarpit.inc({ outcome: 'held' });
    this.metrics.tarpitHeld.set(this.held.size);
  }

  /** Sends every held refusal now and holds no more (server shutdown). */
  close(): void {
    this.closed = true;
    for (const h of [...this.held]) h.release();
  }
}
