import type { Queryable } from './db.js';
import type { Template } from '../policy/template.js';
import { defaultTemplates } from '../policy/defaults.js';
import { isPermissionDenied } from './db-roles.js';

interface DbRow {
  name: string;
  enabled: boolean;
  definition: Template;
  updated_at: Date | string;
}

// The enabled column is authoritative (enable/disable does not rewrite the definition).
const toTemplate = (r: DbRow): Template => ({ ...r.definition, name: r.name, enabled: r.enabled });

export async function listTemplates(q: Queryable): Promise<Template[]> {
  const r = await q.query<DbRow>('SELECT name, enabled, definition, updated_at FROM templates ORDER BY name');
  return r.rows.map(toTemplate);
}

export async function getTemplate(q: Queryable, name: string): Promise<Template | null> {
  const r = await q.query<DbRow>('SELECT name, enabled, definition, updated_at FROM templates WHERE lower(name) = lower($1)', [name]);
  return r.rows[0] ? toTemplate(r.rows[0]) : null;
}

export async function upsertTemplate(q: Queryable, t: Template): Promise<void> {
  await q.query(
    `INSERT INTO templates (name, oid, enabled, definition) VALUES ($1, $2, $3, $4)
     ON CONFLICT (name) DO UPDATE SET oid = EXCLUDED.oid, enabled = EXCLUDED.enabled, definition = EXCLUDED.definition, updated_at = now()`,
    [t.name, t.oid, t.enabled, JSON.stringify(t)],
  );
}

export async function setEnabled(q: Queryable, name: string, enabled: boolean): Promise<boolean> {
  const r = await q.query('UPDATE templates SET enabled = $2, updated_at = now() WHERE lower(name) = lower($1)', [name, enabled]);
  return r.rowCount > 0;
}

export async function deleteTemplate(q: Queryable, name: string): Promise<boolean> {
  const r = await q.query('DELETE FROM templates WHERE lower(name) = lower($1)', [name]);
  return r.rowCount > 0;
}

export async function latestTemplateChange(q: Queryable): Promise<Date | null> {
  const r = await q.query<{ t: Date | string | null }>('SELECT max(updated_at) AS t FROM templates');
  const t = r.rows[0]?.t;
  return t ? new Date(t) : null;
}

/**
 * Defaults added to the product after deployments already existed: each is offered once to an
 * existing deployment (only disabled ones, so nothing changes until an administrator enables it)
 * and never over a template of the same name or OID. A new deployment gets them with the rest.
 * A node without the right to write templates leaves it to one that has (an admin node, or
 * `opences db migrate`); the marker is written only after the template, so nothing is lost.
 */
const LATER_DEFAULTS = ['WebServerECDSA'] as const;
const laterKey = (name: string): string => `template_seeded_${name}`;

/** Inserts the default templates on a new deployment; safe when several nodes start at once. Returns true when it created any. */
export async function seedDefaultTemplates(q: Queryable, arc: string): Promise<boolean> {
  const defaults = defaultTemplates(arc);
  const insert = (t: Template) => q.query('INSERT INTO templates (name, oid, enabled, definition) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [t.name, t.oid, t.enabled, JSON.stringify(t)]);
  const mark = (key: string) => q.query(`INSERT INTO settings (key, value) VALUES ($1, 'true') ON CONFLICT (key) DO NOTHING`, [key]);
  // Read first: nodes without the right to write templates start on a seeded database.
  const done = await q.query(`SELECT 1 FROM settings WHERE key = 'templates_seeded'`);
  if (done.rowCount > 0) {
    for (const name of LATER_DEFAULTS) {
      const t = defaults.find((d) => d.name === name)!;
      if (t.enabled || (await q.query(`SELECT 1 FROM settings WHERE key = $1`, [laterKey(name)])).rowCount > 0) continue;
      try {
        await insert(t);
        await mark(laterKey(name));
      } catch (e) {
        if (!isPermissionDenied(e)) throw e;
      }
    }
    return false;
  }
  const seeded = await q.query(`INSERT INTO settings (key, value) VALUES ('templates_seeded', 'true') ON CONFLICT (key) DO NOTHING`);
  if (seeded.rowCount === 0) return false;
  for (const t of defaults) await insert(t);
  for (const name of LATER_DEFAULTS) await mark(laterKey(name));
  return true;
}
