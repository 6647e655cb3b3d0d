import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { TEST_DATABASE_URL, freshTestDb, type TestDb } from '../../helpers/db.js';
import type { Queryable } from '../../../src/store/db.js';
import { deleteTemplate, listTemplates, seedDefaultTemplates } from '../../../src/store/template-repo.js';

const ARC = '1.3.6.1.4.1.311.21.8.7.7.7.7.7.7';

describe('default templates (src/store/template-repo.ts seedDefaultTemplates)', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await freshTestDb();
  });
  afterAll(async () => db?.close());

  it('a new deployment gets all five, WebServerECDSA disabled; a second start changes nothing', async () => {
    expect(await seedDefaultTemplates(db, ARC)).toBe(true);
    const names = (await listTemplates(db)).map((t) => [t.name, t.enabled]);
    expect(names).toEqual([['Machine', true], ['User', true], ['WebServer', true], ['WebServerApproval', true], ['WebServerECDSA', false]]);
    expect(await seedDefaultTemplates(db, ARC)).toBe(false);
    expect(await listTemplates(db)).toHaveLength(5);
  });

  it('a deployment seeded before WebServerECDSA existed gets it once, disabled; deleted, it stays deleted', async () => {
    // As an older deployment: seeded, without the later default and its marker.
    await deleteTemplate(db, 'WebServerECDSA');
    await db.query(`DELETE FROM settings WHERE key = 'template_seeded_WebServerECDSA'`);
    expect(await seedDefaultTemplates(db, ARC)).toBe(false);
    const ecdsa = (await listTemplates(db)).find((t) => t.name === 'WebServerECDSA');
    expect(ecdsa).toMatchObject({ enabled: false, schemaVersion: 3, oid: `${ARC}.5` });
    await deleteTemplate(db, 'WebServerECDSA');
    await seedDefaultTemplates(db, ARC);
    expect((await listTemplates(db)).map((t) => t.name)).not.toContain('WebServerECDSA');
  });

  it('never replaces an administrator template that holds the name or the OID', async () => {
    await db.query(`DELETE FROM settings WHERE key = 'template_seeded_WebServerECDSA'`);
    const web = (await listTemplates(db)).find((t) => t.name === 'WebServer')!;
    // An administrator's own template already uses <arc>.5.
    await db.query('INSERT INTO templates (name, oid, enabled, definition) VALUES ($1, $2, true, $3)', ['Mine', `${ARC}.5`, JSON.stringify({ ...web, name: 'Mine', oid: `${ARC}.5` })]);
    await seedDefaultTemplates(db, ARC);
    const all = await listTemplates(db);
    expect(all.map((t) => t.name)).not.toContain('WebServerECDSA');
    expect(all.find((t) => t.name === 'Mine')).toMatchObject({ oid: `${ARC}.5`, enabled: true });
  });

  it('a node that may only read templates (a cep node) starts without error and leaves the new default to a node that may write', async () => {
    await deleteTemplate(db, 'WebServerECDSA');
    await db.query(`DELETE FROM settings WHERE key = 'template_seeded_WebServerECDSA'`);
    await db.query(`DELETE FROM templates WHERE name = 'Mine'`);
    const role = `seed_reader_${randomBytes(4).toString('hex')}`;
    await db.query(`CREATE ROLE ${role} LOGIN`);
    await db.query(`GRANT USAGE ON SCHEMA ${db.schema} TO ${role}`);
    await db.query(`GRANT SELECT ON ${db.schema}.settings, ${db.schema}.templates TO ${role}`);
    const u = new URL(TEST_DATABASE_URL);
    u.username = role;
    u.password = '';
    const c = new pg.Client({ connectionString: u.toString(), options: `-c search_path=${db.schema}` });
    await c.connect();
    try {
      const reader: Queryable = { query: async (text: string, params?: unknown[]) => { const r = await c.query(text, params); return { rows: r.rows, rowCount: r.rowCount ?? 0 }; } } as unknown as Queryable;
      await expect(seedDefaultTemplates(reader, ARC)).resolves.toBe(false);
      expect((await listTemplates(db)).map((t) => t.name)).not.toContain('WebServerECDSA');
      // the marker was not taken: a node that may write still adds it
      await seedDefaultTemplates(db, ARC);
      expect((await listTemplates(db)).map((t) => t.name)).toContain('WebServerECDSA');
    } finally {
      await c.end();
      await db.query(`DROP OWNED BY ${role}`);
      await db.query(`DROP ROLE ${role}`);
    }
  });
});
