import type { IssuanceOrder } from '../ca/types.js';

/** How an IssuanceOrder (minus its CSR, kept in its own column) is stored in requests.issuance_order. */
export interface StoredOrder extends Omit<IssuanceOrder, 'csrDer' | 'notBefore' | 'notAfter' | 'orderId' | 'possessionSignedData'> {
  notBefore: string;
  notAfter: string;
  /** Possession is proven by the request's outer signature: the request as received (its own column) goes with the order. */
  possessionBySignedData?: true;
  /** Why the request waits, when it does. */
  pendReason?: 'approval';
}

export function storeOrder(o: Omit<IssuanceOrder, 'orderId'>, pendReason?: 'approval'): StoredOrder {
  const { csrDer: _csr, possessionSignedData, notBefore, notAfter, ...rest } = o;
  return { ...rest, notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString(), ...(possessionSignedData ? { possessionBySignedData: true as const } : {}), ...(pendReason ? { pendReason } : {}) };
}

/** `rawRequest`: the request as received (requests.raw_request), which an order proven by its outer signature needs. */
export function loadOrder(orderId: string, stored: StoredOrder, csrDer: Uint8Array, rawRequest?: Uint8Array): IssuanceOrder {
  const { notBefore, notAfter, pendReason: _p, possessionBySignedData, ...rest } = stored;
  return { ...rest, orderId, csrDer, notBefore: new Date(notBefore), notAfter: new Date(notAfter), ...(possessionBySignedData && rawRequest ? { possessionSignedData: rawRequest } : {}) };
}

export function isStoredOrder(v: unknown): v is StoredOrder {
  return typeof v === 'object' && v !== null && 'template' in v && 'notBefore' in v && 'subject' in v;
}
