/** What callers record. Free text fields hold names and reasons, never secrets. */
export interface AuditEvent {
  type: string;
  outcome: 'success' | 'failure' | 'denied' | 'pending' | 'info';
  actor?: string;
  principal?: string;
  method?: string;
  address?: string;
  template?: string;
  requestId?: string;
  serial?: string;
  reason?: string;
  details?: Record<string, unknown>;
}

/** A stored event: its place in the chain and the hashes that link it. */
export interface AuditRow extends AuditEvent {
  seq: number;
  at: Date;
  prevHash: string;
  hash: string;
}

export interface AuditFilter {
  type?: string;
  principal?: string;
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
  limit?: number;
  offset?: number;
}

export type VerifyResult = { ok: true; count: number } | { ok: false; firstBrokenSeq: number; reason: string; count: number };
