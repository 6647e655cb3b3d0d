import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmp } from '../../helpers/openssl.js';
import { openDb } from '../../../src/store/open.js';
import { ReplayGuard } from '../../../src/auth/replay.js';
import type { MessageEvidence } from '../../../src/auth/freshness.js';
import type { Principal } from '../../../src/auth/principal.js';

// The replay store of replay.test.ts on embedded PGlite, in a file of its own: PGlite's initdb costs
// ~20 s, and the mutation run (vitest.mutate.config.ts) leaves *-pglite files out.
const alice: Principal = { name: 'alice', groups: ['authenticated'], method: 'username' };

describe('replay store on PGlite (embedded mode)', () => {
  it('runs the same statements: a message is accepted once, a token carries several, expired rows are purged', async () => {
    const dir = tmp('opences-replay-pglite-');
    const db = await openDb({ dataDir: dir });
    try {
      const now = new Date('2026-06-01T12:00:00Z');
      const g = new ReplayGuard(db);
      const nonce = randomBytes(16);
      const e = (id: string): MessageEvidence => ({ messageId: id, nonce, tokenCreated: now });
      expect(await g.admit(alice, e('urn:uuid:1'), now)).toBeNull();
      expect(await g.admit(alice, e('urn:uuid:2'), now)).toBeNull();
      expect(await g.admit(alice, e('urn:uuid:1'), now)).toMatch(/its MessageID was used before/);
      expect(await g.admit(alice, { messageId: 'urn:uuid:3', nonce, tokenCreated: new Date(now.getTime() - 1000) }, now)).toMatch(/its Nonce was used before/);
      // Two MessageIDs, the Nonce, and the refused message's MessageID (recorded all the same).
      expect(await g.purge(new Date(now.getTime() + 11 * 60_000))).toBe(4);
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
