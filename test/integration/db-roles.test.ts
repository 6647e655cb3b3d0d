import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { freshTestDb, urlWithSchema, type TestDb } from '../helpers/db.js';
import { cliAsync, dbRoleUrls, type NodeRole } from '../helpers/topology.js';
import { rmSync } from 'node:fs';
import { tmp } from '../helpers/openssl.js';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/app/serve.js';
import { TABLE_PRIVILEGES, checkPrivileges, unmapped } from '../../src/store/db-roles.js';
import { PostgresDb } from '../../src/store/postgres.js';
import { AuditLog } from '../../src/audit/log.js';
import { systemClock } from '../../src/clock.js';

/** The SQLSTATE a statement fails with, or 'ok'. */
async function outcome(c: pg.Client, sql: string, params: unknown[] = []): Promise<string> {
  try {
    await c.query(sql, params);
    return 'ok';
  } catch (e) {
    return String((e as { code?: unknown }).code);
  }
}

describe('least-privilege database roles (opences db roles)', () => {
  let db: TestDb;
  let ownerUrl: string;
  let roles: Awaited<ReturnType<typeof dbRoleUrls>>;
  const conns: Partial<Record<NodeRole, pg.Client>> = {};
  const as = (r: NodeRole): pg.Client => conns[r]!;

  beforeAll(async () => {
    db = await freshTestDb();
    ownerUrl = urlWithSchema(db.schema);
    await cliAsync(['db', 'migrate'], { databaseUrl: ownerUrl });
    roles = await dbRoleUrls(ownerUrl);
    for (const r of ['cep', 'ces', 'ca', 'admin'] as const) {
      conns[r] = new pg.Client({ connectionString: roles.urls[r] });
      await conns[r]!.connect();
    }
    // Something to refuse touching: a chained audit event and a queued one.
    const log = new AuditLog(db, systemClock);
    await log.record({ type: 'test.chained', outcome: 'info' });
    await db.query(`INSERT INTO audit_queue (at, event) VALUES (now(), '{"type":"test.queued","outcome":"info"}')`);
  }, 120_000);
  afterAll(async () => {
    for (const c of Object.values(conns)) await c?.end();
    await db?.close();
    await roles?.drop();
  });

  it('a ces connection cannot change templates, insert certificates, or delete or rewrite audit events', async () => {
    expect(await outcome(as('ces'), `UPDATE templates SET enabled = false WHERE name = 'WebServer'`)).toBe('42501');
    expect(await outcome(as('ces'), `INSERT INTO certificates (serial, ca_id, subject, not_before, not_after, der) SELECT 'ab', id, 'CN=x', now(), now(), '\\x00' FROM cas LIMIT 1`)).toBe('42501');
    expect(await outcome(as('ces'), 'DELETE FROM audit_events')).toBe('42501');
    expect(await outcome(as('ces'), `UPDATE audit_events SET reason = 'x'`)).toBe('42501');
    expect(await outcome(as('ces'), 'DELETE FROM audit_queue')).toBe('42501');
    expect(await outcome(as('ces'), `INSERT INTO accounts (name) VALUES ('mallory')`)).toBe('42501');
    expect(await outcome(as('ces'), `INSERT INTO partners (name, roots, map_from) VALUES ('evil', '{}', 'cn')`)).toBe('42501');
    expect(await outcome(as('ces'), `UPDATE requests SET status = 'issued'`)).toBe('42501');
    expect(await outcome(as('ces'), `INSERT INTO crls (ca_id, number, this_update, next_update, der) SELECT id, 99, now(), now(), '\\x00' FROM cas LIMIT 1`)).toBe('42501');
    expect(await outcome(as('ces'), 'TRUNCATE audit_events')).toBe('42501');
    expect(await outcome(as('ces'), 'CREATE TABLE evil (x int)')).toBe('42501');
    // What it needs still works: read policy, park an audit event.
    expect(await outcome(as('ces'), 'SELECT name FROM templates')).toBe('ok');
    expect(await outcome(as('ces'), `INSERT INTO audit_queue (at, event) VALUES (now(), '{"type":"t","outcome":"info"}')`)).toBe('ok');
  });

  it('no role may UPDATE, DELETE or TRUNCATE chained audit events', async () => {
    for (const r of ['cep', 'ces', 'ca', 'admin'] as const) {
      expect([r, await outcome(as(r), 'DELETE FROM audit_events')]).toEqual([r, '42501']);
      expect([r, await outcome(as(r), `UPDATE audit_events SET hash = 'x'`)]).toEqual([r, '42501']);
      expect([r, await outcome(as(r), 'TRUNCATE audit_events')]).toEqual([r, '42501']);
    }
  });

  it('only ca inserts certificates and CRLs; only admin manages templates, accounts and partners', async () => {
    for (const r of ['cep', 'ces', 'admin'] as const) expect([r, await outcome(as(r), `INSERT INTO crls (ca_id, number, this_update, next_update, der) SELECT id, 98, now(), now(), '\\x00' FROM cas LIMIT 1`)]).toEqual([r, '42501']);
    expect(await outcome(as('ca'), `INSERT INTO crls (ca_id, number, this_update, next_update, der) SELECT id, 98, now(), now(), '\\x00' FROM cas LIMIT 1`)).toBe('ok');
    for (const r of ['cep', 'ces', 'ca'] as const) {
      expect([r, await outcome(as(r), `UPDATE templates SET enabled = true`)]).toEqual([r, '42501']);
      expect([r, await outcome(as(r), `UPDATE accounts SET disabled = false`)]).toEqual([r, '42501']);
      expect([r, await outcome(as(r), `DELETE FROM partners`)]).toEqual([r, '42501']);
    }
    expect(await outcome(as('admin'), `UPDATE templates SET enabled = true WHERE name = 'WebServer'`)).toBe('ok');
  });

  it('a chaining role cannot delete a queued audit event that is not chained yet', async () => {
    for (const r of ['ca', 'admin'] as const) {
      const e = await as(r).query(`DELETE FROM audit_queue WHERE event->>'type' = 'test.queued'`).catch((x: { code?: string; message?: string }) => x);
      expect(e).toMatchObject({ code: '42501', message: expect.stringContaining('is not chained') });
    }
    // The sequencer, on the ca role, chains it and so may delete it.
    const caDb = new PostgresDb({ url: roles.urls.ca });
    const log = new AuditLog(caDb, systemClock);
    await log.flush();
    expect((await db.query(`SELECT 1 FROM audit_queue WHERE event->>'type' = 'test.queued'`)).rowCount).toBe(0);
    expect((await db.query(`SELECT queue_id FROM audit_events WHERE type = 'test.queued'`)).rows[0]).toMatchObject({ queue_id: expect.anything() });
    expect(await log.verify()).toMatchObject({ ok: true });
    await caDb.close();
  });

  it('each role has exactly what the map gives it: nothing in excess, nothing missing', async () => {
    for (const r of ['cep', 'ces', 'ca', 'admin'] as const) {
      const q = new PostgresDb({ url: roles.urls[r] });
      try {
        expect([r, await checkPrivileges(q, [r])]).toEqual([r, { user: `${roles.prefix}${r}`, excess: [], missing: [] }]);
      } finally {
        await q.close();
      }
    }
    // A ces user used for a ca node lacks what the ca needs, and says what.
    const q = new PostgresDb({ url: roles.urls.ces });
    const r = await checkPrivileges(q, ['ca']);
    await q.close();
    expect(r.missing).toContain('INSERT on certificates');
    expect(r.excess.join('; ')).toMatch(/INSERT on [^;]*\breplay_seen\b/);
  });

  it('every table the migrations create is in the privilege map', async () => {
    const t = await db.query<{ relname: string }>(`SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'`);
    expect(unmapped(t.rows.map((x) => x.relname))).toEqual([]);
    for (const by of Object.values(TABLE_PRIVILEGES)) expect(by).toBeTypeOf('object');
    expect(Object.values(TABLE_PRIVILEGES.audit_events!).flat()).not.toContain('UPDATE');
    expect(Object.values(TABLE_PRIVILEGES.audit_events!).flat()).not.toContain('DELETE');
  });

  it('a node connected with more rights than its roles need refuses to start and names them', async () => {
    const dataDir = tmp('opences-roles-');
    const config = loadConfig({ env: {}, flags: { dataDir, port: 0, pkiPort: 0, host: '127.0.0.1', hostname: 'localhost', logLevel: 'silent', databaseUrl: ownerUrl, roles: 'ces', ca: { url: 'https://127.0.0.1:1', clientCertFile: '/nonexistent', clientKeyFile: '/nonexistent' } } });
    const err = await startServer(config).then(() => null, (e: unknown) => e as Error);
    rmSync(dataDir, { recursive: true, force: true });
    expect(err?.message).toMatch(/the database role postgres \(node roles ces\) has more rights than the node needs: superuser; CREATE on schema t_[0-9a-f]+ \(DDL\); owner of /);
    expect(err?.message).toMatch(/UPDATE on [^;]*\baudit_events\b/);
    expect(err?.message).toMatch(/DELETE on [^;]*\btemplates\b/);
    expect(err?.message).toContain('set databaseAllowExcessPrivileges: true');
  });
});
