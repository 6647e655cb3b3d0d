import type { Role } from '../config.js';
import { OpencesError } from '../errors.js';
import type { Queryable } from './db.js';

/**
 * Least-privilege PostgreSQL roles, one per node role (docs/deployment.md, "Database roles").
 *
 * THE privilege map: every table the migrations create has an entry here, naming for each node
 * role the privileges it needs and nothing more. `opences db roles` grants exactly this; a serving
 * node compares its connection's rights against the union for its roles and refuses to start on
 * more (unless `databaseAllowExcessPrivileges`) or fewer. A test checks that every table of
 * migrations/ is listed. When you add a table, add it here, with the reason in a comment.
 *
 * What the roles are for:
 * - cep (policy, DMZ): reads policy (templates, settings), CA certificates and CRLs (it serves
 *   /pki/), the identities it authenticates (accounts, partners, certificates for revocation), and
 *   parks audit events. It inserts one request: its own TLS certificate's.
 * - ces (enrollment, DMZ): as cep, plus it records requests and reads what it answers with. It
 *   cannot change templates, accounts, partners or certificates.
 * - ca: inserts certificates and CRLs, marks requests issued, revokes, and chains the audit log
 *   (the sequencer, src/audit/log.ts) and signs its checkpoints.
 * - admin: manages templates, accounts, partners and API tokens, approves and denies requests,
 *   reads and chains the audit log.
 * No role may UPDATE or DELETE `audit_events`. Queued audit events (`audit_queue`) are deleted
 * only by the chaining roles (ca, admin), and only in the transaction that chains them: a trigger
 * (migrations/010_audit_queue_guard.sql) refuses to delete a queued event that is not in the chain.
 */
export type Privilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';

export const NODE_ROLES: readonly Role[] = ['cep', 'ces', 'ca', 'admin'];

const R: Privilege[] = ['SELECT'];
const RI: Privilege[] = ['SELECT', 'INSERT'];
const RIU: Privilege[] = ['SELECT', 'INSERT', 'UPDATE'];
const RID: Privilege[] = ['SELECT', 'INSERT', 'DELETE'];
const ALL: Privilege[] = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];
const I: Privilege[] = ['INSERT'];

export const TABLE_PRIVILEGES: Record<string, Partial<Record<Role, Privilege[]>>> = {
  // Every node checks the schema version at start; only `opences db migrate` (the owner) writes it.
  schema_migrations: { cep: R, ces: R, ca: R, admin: R },
  // Deployment identity (policy id, OID arc) and the seeding marker: made by `db migrate` or the first ca/admin node.
  settings: { cep: R, ces: R, ca: RI, admin: RIU },
  // The CA node creates its hierarchy; everyone reads the certificates (chains, /pki/).
  cas: { cep: R, ces: R, ca: RI, admin: R },
  // Policy: read by all, managed by admin. The ca node reads them to re-check orders.
  templates: { cep: R, ces: R, ca: R, admin: ALL },
  // Local accounts: read to authenticate, managed by admin.
  accounts: { cep: R, ces: R, admin: RIU },
  // Requests: ces records them; cep and ca insert their own TLS/internal certificate requests
  // (INSERT … RETURNING needs SELECT); ca marks them issued; admin approves or denies.
  requests: { cep: RI, ces: RI, ca: RIU, admin: RIU },
  // A certificate manager's approval of a request that waits for one (migration 012): written by
  // admin only (approve; a second approval replaces the first: UPDATE), read by the ca node, which
  // signs such a request only with it. Enrollment nodes, which record requests, cannot approve them.
  request_approvals: { ca: R, admin: RIU },
  // Certificates: only ca inserts them (and revokes: UPDATE); the others read them (retrieval,
  // revocation checks of client certificates, the admin API).
  certificates: { cep: R, ces: R, ca: RIU, admin: R },
  // CRLs: only ca inserts them; served by every node with /pki/.
  crls: { cep: R, ces: R, ca: RI, admin: R },
  // Audit: every node parks events in the queue; ca and admin chain them (sequencer). No UPDATE or
  // DELETE of chained events for anyone.
  audit_events: { ca: RI, admin: RI },
  audit_queue: { cep: I, ces: I, ca: RID, admin: RID },
  // Checkpoints: signed on the ca node; served on /pki/ (every node) and checked by admin.
  audit_signers: { cep: R, ces: R, ca: RI, admin: R },
  audit_checkpoints: { cep: R, ces: R, ca: RI, admin: R },
  // Replay store (src/auth/replay.ts): every message-authenticated SOAP message (cep and ces) is
  // recorded once — INSERT … ON CONFLICT DO NOTHING, SELECT for a Nonce's bound — and the same nodes
  // purge expired rows (DELETE). No UPDATE: a row never changes.
  replay_seen: { cep: RID, ces: RID },
  // Admin API tokens: only the admin node checks and manages them (last_used_at: UPDATE).
  api_tokens: { admin: RIU },
  // Partners: read to authenticate partner certificates, managed by admin.
  partners: { cep: R, ces: R, admin: ALL },
  // Partner CRLs: a cache of CRLs fetched from the partners' URLs by the authenticating nodes
  // (each is checked against the partner's roots before use), loaded from files by admin.
  partner_crls: { cep: RID, ces: RID, admin: RID },
  // Browser sessions (src/http/web/sessions.ts): the console on admin nodes, web enrollment on ces
  // nodes; each creates, refreshes (last_seen_at) and ends (DELETE, and purges expired) its own.
  web_sessions: { ces: ALL, admin: ALL },
  // SCEP one-time challenges (migration 015): created by admin (API, CLI), consumed by the
  // enrollment node (UPDATE … RETURNING, hence SELECT). Nobody deletes them: they are the record.
  scep_challenges: { ces: ['SELECT', 'UPDATE'], admin: RI },
  // SCEP transactions → requests: written and read by the enrollment node only.
  scep_transactions: { ces: RI },
};

/** Sequences behind column defaults that are not owned by a serial column (INSERT needs USAGE). */
export const EXTRA_SEQUENCES: Record<string, string> = { request_id_seq: 'requests' };

/** What a node with these roles needs: table → privileges. */
export function neededPrivileges(roles: readonly Role[]): Map<string, Set<Privilege>> {
  const out = new Map<string, Set<Privilege>>();
  for (const [table, byRole] of Object.entries(TABLE_PRIVILEGES)) {
    const s = new Set<Privilege>();
    for (const r of roles) for (const p of byRole[r] ?? []) s.add(p);
    out.set(table, s);
  }
  return out;
}

export const roleName = (prefix: string, role: Role): string => `${prefix}${role}`;

const ident = (s: string): string => {
  if (!/^[a-z_][a-z0-9_$]{0,62}$/.test(s)) throw new OpencesError('malformed', `${JSON.stringify(s)} is not a plain lower-case SQL identifier`, { field: 'name' });
  return `"${s}"`;
};

async function schemaTables(q: Queryable): Promise<{ schema: string; tables: string[]; sequences: { name: string; table: string | null }[] }> {
  const s = await q.query<{ schema: string }>('SELECT current_schema() AS schema');
  const schema = s.rows[0]?.schema;
  if (!schema) throw new OpencesError('unavailable', 'no current schema: check search_path');
  const t = await q.query<{ relname: string }>(`SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname`, [schema]);
  const seq = await q.query<{ name: string; owner_table: string | null }>(
    `SELECT s.relname AS name, t.relname AS owner_table
       FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace
       LEFT JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
       LEFT JOIN pg_class t ON t.oid = d.refobjid
      WHERE n.nspname = $1 AND s.relkind = 'S'`,
    [schema],
  );
  return { schema, tables: t.rows.map((r) => r.relname), sequences: seq.rows.map((r) => ({ name: r.name, table: r.owner_table ?? EXTRA_SEQUENCES[r.name] ?? null })) };
}

/** Tables in the schema the map does not know: a migration added one without saying who may use it. */
export function unmapped(tables: string[]): string[] {
  return tables.filter((t) => !(t in TABLE_PRIVILEGES));
}

export interface RolesPlan {
  schema: string;
  statements: string[];
}

/**
 * The SQL that makes (or brings up to date) one role per node role with exactly the privileges of
 * the map on the current schema. Run by the schema's owner. Existing roles keep their passwords
 * unless one is given; every privilege they had on the schema's tables and sequences is revoked
 * first, so running it again after an upgrade leaves exactly the map.
 */
export async function rolesPlan(q: Queryable, o: { prefix: string; passwords?: Partial<Record<Role, string>>; login?: boolean }): Promise<RolesPlan> {
  const { schema, tables, sequences } = await schemaTables(q);
  const unknown = unmapped(tables);
  if (unknown.length) throw new OpencesError('conflict', `tables without an entry in the privilege map (src/store/db-roles.ts): ${unknown.join(', ')}`);
  const sch = ident(schema);
  const out: string[] = [];
  for (const role of NODE_ROLES) {
    const name = roleName(o.prefix, role);
    const id = ident(name);
    const exists = await q.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
    const pw = o.passwords?.[role];
    const login = o.login === false ? 'NOLOGIN' : 'LOGIN';
    // Passwords go through a literal: PostgreSQL has no parameters in utility statements.
    const pass = pw !== undefined ? ` PASSWORD '${pw.replace(/'/g, "''")}'` : '';
    out.push(exists.rowCount ? `ALTER ROLE ${id} ${login} NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS${pass}` : `CREATE ROLE ${id} ${login} NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS${pass}`);
    out.push(`REVOKE ALL ON SCHEMA ${sch} FROM ${id}`, `GRANT USAGE ON SCHEMA ${sch} TO ${id}`);
    if (tables.length) out.push(`REVOKE ALL ON ${tables.map((t) => `${sch}.${ident(t)}`).join(', ')} FROM ${id}`);
    if (sequences.length) out.push(`REVOKE ALL ON SEQUENCE ${sequences.map((s) => `${sch}.${ident(s.name)}`).join(', ')} FROM ${id}`);
    for (const t of tables) {
      const privs = TABLE_PRIVILEGES[t]![role] ?? [];
      if (privs.length) out.push(`GRANT ${privs.join(', ')} ON ${sch}.${ident(t)} TO ${id}`);
    }
    const seqs = sequences.filter((s) => s.table !== null && (TABLE_PRIVILEGES[s.table]?.[role] ?? []).includes('INSERT'));
    if (seqs.length) out.push(`GRANT USAGE ON SEQUENCE ${seqs.map((s) => `${sch}.${ident(s.name)}`).join(', ')} TO ${id}`);
  }
  return { schema, statements: out };
}

/** PostgreSQL's insufficient_privilege (42501), raw or as src/store/postgres.ts maps it. */
export function isPermissionDenied(e: unknown): boolean {
  if (e instanceof OpencesError) return e.details.cause === '42501';
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === '42501';
}

/** What the connection may do beyond (excess) and short of (missing) what its node roles need. */
export interface PrivilegeReport {
  user: string;
  excess: string[];
  missing: string[];
}

const CHECKED = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'] as const;

/** Compares the connection's rights on the current schema with the map for `roles`. */
export async function checkPrivileges(q: Queryable, roles: readonly Role[]): Promise<PrivilegeReport> {
  const who = await q.query<{ user: string; superuser: boolean; create: boolean; schema: string }>(
    `SELECT current_user AS user, r.rolsuper AS superuser, has_schema_privilege(current_schema(), 'CREATE') AS create, current_schema() AS schema
       FROM pg_roles r WHERE r.rolname = current_user`,
  );
  const me = who.rows[0];
  if (!me) throw new OpencesError('unavailable', 'cannot read the connection\'s role');
  const have = await q.query<{ relname: string; priv: string; owner: boolean }>(
    `SELECT c.relname, p.priv, pg_has_role(current_user, c.relowner, 'USAGE') AS owner
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN unnest($1::text[]) AS p(priv)
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND has_table_privilege(current_user, c.oid, p.priv)`,
    [[...CHECKED]],
  );
  const need = neededPrivileges(roles);
  const excessBy = new Map<string, string[]>();
  const held = new Map<string, Set<string>>();
  const owned = new Set<string>();
  for (const r of have.rows) {
    if (!held.has(r.relname)) held.set(r.relname, new Set());
    held.get(r.relname)!.add(r.priv);
    if (r.owner) owned.add(r.relname);
    if (!need.get(r.relname)?.has(r.priv as Privilege)) {
      if (!excessBy.has(r.priv)) excessBy.set(r.priv, []);
      excessBy.get(r.priv)!.push(r.relname);
    }
  }
  const excess: string[] = [];
  if (me.superuser) excess.push('superuser');
  if (me.create) excess.push(`CREATE on schema ${me.schema} (DDL)`);
  if (owned.size) excess.push(`owner of ${[...owned].sort().join(', ')} (may grant itself anything)`);
  for (const [priv, tables] of excessBy) excess.push(`${priv} on ${tables.sort().join(', ')}`);
  const missing: string[] = [];
  const present = new Set((await schemaTables(q)).tables);
  for (const [table, privs] of need) {
    if (!present.has(table)) continue;
    for (const p of privs) if (!held.get(table)?.has(p)) missing.push(`${p} on ${table}`);
  }
  return { user: me.user, excess, missing };
}

/**
 * At the start of `serve` on PostgreSQL: a node whose connection lacks what its roles need stops
 * (it would fail later, on some request); one with more than they need stops unless allowed, and
 * says which rights are too many.
 */
export async function enforcePrivileges(q: Queryable, roles: readonly Role[], allowExcess: boolean, warn: (msg: string) => void): Promise<void> {
  const r = await checkPrivileges(q, roles);
  const what = `the database role ${r.user} (node roles ${roles.join(',')})`;
  if (r.missing.length) throw new OpencesError('unavailable', `${what} lacks rights the node needs: ${r.missing.join('; ')}. Run \`opences db roles\` as the database owner (docs/deployment.md)`);
  if (!r.excess.length) return;
  const msg = `${what} has more rights than the node needs: ${r.excess.join('; ')}. Connect as the role \`opences db roles\` made for it (docs/deployment.md)`;
  if (!allowExcess) throw new OpencesError('forbidden', `${msg}, or set databaseAllowExcessPrivileges: true (OPENCES_DATABASE_ALLOW_EXCESS_PRIVILEGES=true) to start anyway`);
  warn(`${msg}; starting anyway (databaseAllowExcessPrivileges)`);
}
