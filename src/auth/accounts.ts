import { OpencesError } from '../errors.js';
import type { Queryable } from '../store/db.js';
import { hashPassword } from './password.js';

export interface Account {
  name: string;
  groups: string[];
  email: string | null;
  disabled: boolean;
  createdAt: Date;
}

interface DbRow {
  name: string;
  password_hash: string | null;
  groups: string[];
  email: string | null;
  disabled: boolean;
  created_at: Date | string;
}

const NAME = /^[^\s\\/@:\x00-\x1f\x7f][^\\/@:\x00-\x1f\x7f]{0,127}$/u;

function checkName(name: string): void {
  if (!NAME.test(name) || name.trim() !== name) throw new OpencesError('malformed', `invalid account name "${name}": 1–128 characters, no spaces at the ends, no \\ / @ : or control characters`, { field: 'name' });
}

export async function addUser(q: Queryable, u: { name: string; password?: string; groups?: string[]; email?: string }): Promise<void> {
  checkName(u.name);
  for (const g of u.groups ?? []) if (!/^[A-Za-z0-9_.@ -]{1,128}$/.test(g)) throw new OpencesError('malformed', `invalid group name "${g}"`, { field: 'groups' });
  const hash = u.password ? await hashPassword(u.password) : null;
  // Account names compare case-insensitively (src/auth/identity.ts): `ALICE` is alice, never a second person.
  const r = await q.query(
    'INSERT INTO accounts (name, password_hash, groups, email) SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM accounts WHERE lower(name) = lower($1)) ON CONFLICT (name) DO NOTHING',
    [u.name, hash, u.groups ?? [], u.email ?? null],
  );
  if (r.rowCount === 0) throw new OpencesError('conflict', `account ${u.name} already exists (account names are compared without regard to case)`);
}

export async function setPassword(q: Queryable, name: string, password: string): Promise<void> {
  const r = await q.query('UPDATE accounts SET password_hash = $2, updated_at = now() WHERE name = $1', [name, await hashPassword(password)]);
  if (r.rowCount === 0) throw new OpencesError('notFound', `no account ${name}`);
}

export async function setGroups(q: Queryable, name: string, groups: string[]): Promise<void> {
  const r = await q.query('UPDATE accounts SET groups = $2, updated_at = now() WHERE name = $1', [name, groups]);
  if (r.rowCount === 0) throw new OpencesError('notFound', `no account ${name}`);
}

export async function disableUser(q: Queryable, name: string, disabled = true): Promise<void> {
  const r = await q.query('UPDATE accounts SET disabled = $2, updated_at = now() WHERE name = $1', [name, disabled]);
  if (r.rowCount === 0) throw new OpencesError('notFound', `no account ${name}`);
}

export async function listUsers(q: Queryable): Promise<Account[]> {
  const r = await q.query<DbRow>('SELECT name, groups, email, disabled, created_at FROM accounts ORDER BY name');
  return r.rows.map((x) => ({ name: x.name, groups: x.groups, email: x.email, disabled: x.disabled, createdAt: new Date(x.created_at) }));
}

/**
 * For authentication only: includes the hash. The account of that name, or the one account whose
 * name differs only in case (as Windows compares account names); two such accounts (made before
 * names were compared so) are ambiguous and neither is found.
 */
export async function getAccountForLogin(q: Queryable, name: string): Promise<(Account & { passwordHash: string | null }) | null> {
  const r = await q.query<DbRow>('SELECT name, password_hash, groups, email, disabled, created_at FROM accounts WHERE lower(name) = lower($1) ORDER BY (name = $1) DESC LIMIT 2', [name]);
  const x = r.rows[0] && (r.rows[0].name === name || r.rows.length === 1) ? r.rows[0] : undefined;
  return x ? { name: x.name, groups: x.groups, email: x.email, disabled: x.disabled, createdAt: new Date(x.created_at), passwordHash: x.password_hash } : null;
}

/** A stamp that changes whenever any account changes: cached logins are checked against it. */
export async function accountsStamp(q: Queryable): Promise<string> {
  const r = await q.query<{ s: string | null }>(`SELECT max(updated_at)::text || ':' || count(*)::text AS s FROM accounts`);
  return r.rows[0]?.s ?? '';
}
