import 'reflect-metadata';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { afterAll } from 'vitest';

// Tests connect to PostgreSQL as the superuser: nodes they start as processes (serve) would refuse
// those rights (src/store/db-roles.ts). Tests of the refusal set databaseAllowExcessPrivileges: false.
process.env.OPENCES_DATABASE_ALLOW_EXCESS_PRIVILEGES ??= 'true';

/**
 * Every test file gets its own temporary directory as TMPDIR: os.tmpdir(), mkdtemp in the helpers
 * and every child process (servers, openssl, KDC, slapd, cepces) put their files under it, and it
 * is removed when the file's tests are done — a run leaves nothing behind in /tmp.
 * A test that needs a file to outlive its file (none should) must say so.
 */
const base = process.env.OPENCES_TEST_TMP_BASE ?? '/tmp';
const own = mkdtempSync(`${base.replace(/\/+$/, '')}/opences-run-`);
// Traversable by other users (a throwaway PostgreSQL runs initdb as postgres in a directory of its
// own below this one), not listable: mkdtemp's 0700 would lock them out.
chmodSync(own, 0o711);
process.env.TMPDIR = own;

afterAll(() => {
  // Children (a KDC, slapd, a throwaway PostgreSQL) are stopped by the files' own afterAll hooks,
  // which run before this root-level one.
  rmSync(own, { recursive: true, force: true, maxRetries: 3 });
});
