import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { initDeployment } from '../app/core.js';
import { ROLES, type Role } from '../config.js';
import { OpencesError } from '../errors.js';
import { openDb } from '../store/open.js';
import { loadMigrations, migrate } from '../store/migrate.js';
import { rolesPlan, roleName, NODE_ROLES, TABLE_PRIVILEGES } from '../store/db-roles.js';
import { addCommonOptions, configFrom, print, type CommonOptions } from './common.js';
import { fail } from './exit.js';

type Opts = CommonOptions & Record<string, unknown>;

function postgresUrl(opts: Opts): string {
  const url = configFrom(opts).databaseUrl;
  if (!url) throw new OpencesError('unsupported', 'database roles are a PostgreSQL matter: give the owner\'s --database-url (or DATABASE_URL); the embedded database has none');
  return url;
}

/** `--password-file ces=/run/secrets/ces` → { ces: '…' } (first line of the file). */
function passwords(specs: string[]): Partial<Record<Role, string>> {
  const out: Partial<Record<Role, string>> = {};
  for (const s of specs) {
    const m = /^([a-z]+)=(.+)$/.exec(s);
    if (!m || !(ROLES as readonly string[]).includes(m[1]!)) throw new OpencesError('malformed', `--password-file ${s}: expected ROLE=FILE with ROLE one of ${ROLES.join(', ')}`, { field: 'password-file' });
    const pw = readFileSync(m[2]!, 'utf8').split(/\r?\n/)[0] ?? '';
    if (!pw) throw new OpencesError('malformed', `--password-file ${s}: the file's first line is empty`, { field: 'password-file' });
    out[m[1] as Role] = pw;
  }
  return out;
}

/**
 * `opences db migrate` and `opences db roles`: the database owner's commands. Nodes that connect
 * with the least-privilege roles never run DDL (src/store/db-roles.ts, docs/deployment.md).
 */
export function registerDbCommands(program: Command): void {
  const db = program.command('db').description('PostgreSQL schema and least-privilege roles (run with the database owner\'s URL)');

  addCommonOptions(db.command('migrate').description('apply pending migrations and create the deployment identity and default templates'))
    .option('--json', 'machine-readable output')
    .action(async (opts: Opts) => {
      try {
        const url = postgresUrl(opts);
        const conn = await openDb({ url, migrate: false });
        try {
          // Under the migration lock: several owners at once migrate once.
          const applied = await migrate(conn);
          const d = await initDeployment(conn);
          const names = loadMigrations().filter((m) => applied.includes(m.version)).map((m) => m.name);
          const out = { applied: names, policyId: d.policyId, templatesSeeded: d.seeded };
          print(opts.json, out, () => `${names.length ? `applied ${names.join(', ')}` : 'the schema is current'}${d.seeded ? '; created the default templates' : ''}`);
        } finally {
          await conn.close();
        }
      } catch (e) {
        fail(e);
      }
    });

  addCommonOptions(db.command('roles').description('create or update one PostgreSQL role per node role (cep, ces, ca, admin) with only the privileges it needs'))
    .option('--prefix <prefix>', 'role names are PREFIX + cep|ces|ca|admin', 'opences_')
    .option('--password-file <role=file>', 'set that role\'s password from the first line of the file (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--nologin', 'make group roles (NOLOGIN): grant them to your own login roles')
    .option('--print', 'print the SQL instead of running it')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nRun after `opences db migrate`, and again after each upgrade that adds tables. Every node then connects as\nthe role for its node role (a node with several roles: a login role that is a member of each).')
    .action(async (opts: Opts & { prefix: string; passwordFile: string[]; nologin?: boolean; print?: boolean }) => {
      try {
        const url = postgresUrl(opts);
        const conn = await openDb({ url });
        try {
          const plan = await rolesPlan(conn, { prefix: opts.prefix, passwords: passwords(opts.passwordFile), login: !opts.nologin });
          if (opts.print) {
            // Passwords are not printed: the lines that set them are shown without.
            process.stdout.write(plan.statements.map((s) => s.replace(/ PASSWORD '(?:[^']|'')*'/, " PASSWORD '…'")).join(';\n') + ';\n');
            return;
          }
          await conn.transaction(async (tx) => {
            for (const s of plan.statements) await tx.query(s);
          });
          const summary = Object.fromEntries(
            NODE_ROLES.map((r) => [roleName(opts.prefix, r), Object.fromEntries(Object.entries(TABLE_PRIVILEGES).flatMap(([t, by]) => ((by[r] ?? []).length ? [[t, by[r]!.join(',')]] : [])))]),
          );
          print(opts.json, { schema: plan.schema, roles: summary }, () =>
            [`schema ${plan.schema}:`, ...Object.entries(summary).map(([name, tables]) => `  ${name}: ${Object.entries(tables).map(([t, p]) => `${t}(${p})`).join(' ')}`)].join('\n'),
          );
        } finally {
          await conn.close();
        }
      } catch (e) {
        fail(e);
      }
    });
}
