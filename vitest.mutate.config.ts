import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The tests StrykerJS runs against each mutant (stryker.config.mjs, `npm run mutate`).
 *
 * Unit tests only. A mutant costs the covering tests of every file that covers it, beforeAll hooks
 * included, and the integration tests start a whole server (CA init, TLS, database: seconds) per
 * file: with them a run over the trust core took days on two cores. Left out as well, because they
 * cost seconds per test and defend no trust decision a unit test does not:
 * - embedded PGlite (`*-pglite.test.ts`, test/unit/store/): ~20 s of initdb each, same SQL as the
 *   PostgreSQL tests;
 * - fuzz passes and CPU/type-check/bench/memory tests: they assert no crash, time or size, not a
 *   decision, and a budget per input that instrumented code would break;
 * - 10,000-issuance serial test and the worker-thread YAML reader (mutants in a worker are not seen).
 * The score is therefore what the unit tests defend; docs/testing.md "Mutation testing" says so.
 */
// Not mergeConfig: it concatenates arrays, and `include` must replace the base's.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/unit/**/*.test.ts'],
    // Not `isolate: false`: a cached module keeps the Stryker namespace object it saw first, so
    // after the next run's setup replaced it the cached code never saw another active mutant — a
    // mutant that breaks every envelope test was reported as survived (2026-12-03).
    // CPU budgets of the XML limit tests (test/unit/protocol/soap/xml-limits.test.ts): in Stryker's
    // worker thread process.cpuUsage() counts the whole process.
    env: { OPENCES_TEST_CPU_SCALE: '20' },
    exclude: [
      '**/node_modules/**',
      'test/unit/**/*-pglite.test.ts',
      'test/unit/store/**',
      'test/unit/protocol/fuzz.test.ts',
      'test/unit/protocol/soap-fuzz.test.ts',
      'test/unit/bench/**',
      'test/unit/web/typecheck.test.ts',
      'test/unit/memory/**',
      'test/unit/ca/serials.test.ts',
      'test/unit/policy/template-yaml-off-loop.test.ts',
    ],
  },
});
