// Mutation testing of the trust core (issue #18). `npm run mutate [slice…]` (test/tools/mutate.ts)
// runs it one slice at a time, each slice's mutants against that slice's own unit tests, with its
// own incremental file and report; it overrides mutate, testFiles, incrementalFile and the report
// file names below. A bare `npx stryker run` mutates the whole core against every unit test and
// would take days on two cores (docs/testing.md "Mutation testing").
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts', related: true },
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: [
    'src/auth/**/*.ts',
    'src/enrollment/**/*.ts',
    'src/policy/**/*.ts',
    'src/ca/engine.ts',
    'src/ca/extensions.ts',
    'src/ca/keypolicy.ts',
    'src/ca/lint.ts',
    'src/ca/backends/**/*.ts',
    'src/audit/**/*.ts',
    'src/http/ca-api.ts',
    'src/protocol/soap/**/*.ts',
    // Clients of our own server, not trust decisions.
    '!src/auth/negotiate-client.ts',
  ],
  coverageAnalysis: 'perTest',
  // A static mutant (a module-level initialiser: a constant, a table, a regular expression) is run
  // once at import, so per-test coverage cannot pick its tests and Stryker runs all of them: in
  // src/audit/ alone 156 such mutants would each cost the whole ~80 s test set, 88 % of the run.
  // They are reported as Ignored and do not count in the score (docs/testing.md).
  ignoreStatic: true,
  // Stryker rewrites tsconfig project references with the TypeScript JS API, which TypeScript 7
  // (the native compiler we use) no longer has; we have no project references, so it is skipped
  // by pointing it at no file. vitest runs the sources through esbuild, untyped, either way.
  tsconfigFile: 'stryker-has-no-tsconfig.json',
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  concurrency: 2,
  // Unit tests only (vitest.mutate.config.ts): a mutant that makes a test hang is cut off ~10 s
  // after its tests' own time, not a minute later.
  timeoutMS: 10_000,
  timeoutFactor: 2,
  thresholds: { high: 90, low: 80, break: null },
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  ignorePatterns: ['data', 'dist', 'reports', '.stryker-tmp', 'bench/results', '.scratch', '.scratch-*', 'test-artifacts'],
};
