import { chmodSync, mkdtempSync, rmSync } from 'node:fs';

/**
 * vitest globalSetup: one directory for the whole run, below which every test file makes its own
 * TMPDIR (test/helpers/setup.ts reads OPENCES_TEST_TMP_BASE; forked workers inherit it). A file's
 * afterAll removes its own directory, but a file none of whose tests run (a filtered run:
 * Stryker's per-test runs, `-t`) never reaches its hooks, and a killed worker none at all: the
 * run's directory is removed when the run ends, so nothing is left in /tmp either way.
 */
export default function setup(): () => void {
  const parent = (process.env.OPENCES_TEST_TMP_BASE ?? '/tmp').replace(/\/+$/, '');
  const base = mkdtempSync(`${parent}/opences-test-`);
  // Traversable by other users (a throwaway PostgreSQL runs initdb as postgres below it).
  chmodSync(base, 0o711);
  process.env.OPENCES_TEST_TMP_BASE = base;
  return () => rmSync(base, { recursive: true, force: true, maxRetries: 3 });
}
