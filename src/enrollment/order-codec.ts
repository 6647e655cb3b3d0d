import type { IssuanceOrder } from '../ca/types.js';

/** How an IssuanceOrder (minus its CSR, kept in its own column) is stored in requests.issuance_order. */
export interface StoredOrder extends Omit<IssuanceOrder, 'csrDer' | 'notBefore' | 'notAfter' | 'orderId'> {
  notBefore: string;
  notAfter: string;
  /** Why the request waits, when it does. */
  pendReason?: 'approval';
}

export function storeOrder(o: Omit<IssuanceOrder, 'orderId'>, pendReason?: 'approval'): StoredOrder {
  const { csrDer: _csr, notBefore, notAfter, ...rest } = o;
  return { ...rest, notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString(), ...(pendReason ? { pendReason } : {}) };
}

export function loadOrder(orderId: string, stored: StoredOrder, csrDer: Uint8Array): IssuanceOrder {
  const { notBefore, notAfter, pendReason: _p, ...rest } = stored;
  return { ...rest, orderId, csrDer, notBefore: new Date(notBefore), notAfter: new Date(notAfter) };
}

export function isStoredOrder(v: unknown): v is StoredOrder {
  return typeof v === 'object' && v !== null && 'template' in v && 'notBefore' in v && 'subject' in v;
}
