/**
 * Private keys generated in this page, by request ID, until their PKCS#12 is saved: page memory
 * only (never storage, never the network). Leaving or reloading the page loses them, by design.
 */
const keys = new Map<string, CryptoKey>();

export const keyring = {
  keep(requestId: string, key: CryptoKey): void {
    keys.set(requestId, key);
  },
  get(requestId: string): CryptoKey | undefined {
    return keys.get(requestId);
  },
  drop(requestId: string): void {
    keys.delete(requestId);
  },
  clear(): void {
    keys.clear();
  },
};
