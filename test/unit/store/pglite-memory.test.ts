import { describe, expect, it } from 'vitest';
import { PgliteDb } from '../../../src/store/pglite.js';

/** The embedded database's memory settings (issue #19: the embedded server within 200 MB idle). */
describe('embedded PostgreSQL memory settings', () => {
  it('runs PGlite with small buffers instead of PostgreSQL defaults that stay resident', async () => {
    const db = await PgliteDb.open(undefined);
    try {
      const show = async (name: string): Promise<string> => Object.values((await db.query<Record<string, string>>(`SHOW ${name}`)).rows[0]!)[0]!;
      expect(await show('shared_buffers')).toBe('16MB');
      expect(await show('maintenance_work_mem')).toBe('8MB');
      expect(await show('work_mem')).toBe('2MB');
    } finally {
      await db.close();
    }
  });
});
