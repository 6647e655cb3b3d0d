/**
 * `npm run mutate [slice…] [-- --concurrency N]`: StrykerJS over the trust core, one slice at a
 * time (issue #18). Each slice is a set of source files and the unit tests that are theirs: a
 * mutant runs only the tests of its own slice that cover it (Stryker's `testFiles`). Per-test
 * coverage alone picks every test that merely executes the code — a mutant in the audit log is
 * executed by every test that audits something, scrypt-heavy sign-in tests included — and cost a
 * minute a mutant; with the slice's own tests it costs about a second.
 *
 * Each slice keeps its own incremental file (reports/stryker-incremental/<slice>.json) and report
 * (reports/mutation/<slice>.json, .html); `npm run mutate:score` reads them all.
 */
import { Stryker } from '@stryker-mutator/core';

interface Slice {
  mutate: string[];
  testFiles: string[];
}

/** In order of value: what stands between a forged credential or request and a certificate first. */
export const SLICES: Record<string, Slice> = {
  auth: {
    mutate: ['src/auth/**/*.ts', '!src/auth/negotiate-client.ts'],
    testFiles: ['test/unit/auth/**/*.test.ts', 'test/unit/kerberos/**/*.test.ts'],
  },
  enrollment: { mutate: ['src/enrollment/**/*.ts'], testFiles: ['test/unit/enrollment/**/*.test.ts'] },
  audit: { mutate: ['src/audit/**/*.ts'], testFiles: ['test/unit/audit/**/*.test.ts'] },
  'ca-api': { mutate: ['src/http/ca-api.ts'], testFiles: ['test/unit/http/ca-api*.test.ts'] },
  'ca-keys': {
    mutate: ['src/ca/keypolicy.ts', 'src/ca/lint.ts'],
    testFiles: ['test/unit/ca/keypolicy*.test.ts', 'test/unit/ca/lint.test.ts', 'test/unit/policy/request-limits.test.ts', 'test/unit/protocol/bad-csr-corpus.test.ts'],
  },
  ca: {
    mutate: ['src/ca/engine.ts', 'src/ca/extensions.ts', 'src/ca/backends/**/*.ts'],
    testFiles: ['test/unit/ca/**/*.test.ts'],
  },
  // The XML limits and the light XML tree apart: the limit tests parse 1 MiB bodies and the tree's
  // differential test against xmldom runs 4,000 mutated messages (~6 s); both also cover every
  // envelope mutant, and would cost each of them those seconds.
  soap: {
    mutate: ['src/protocol/soap/**/*.ts', '!src/protocol/soap/xml-tree.ts', '!src/protocol/soap/xml-limits.ts'],
    testFiles: ['test/unit/protocol/soap/envelope*.test.ts', 'test/unit/protocol/soap/build-bytes.test.ts', 'test/unit/protocol/bad-soap-corpus.test.ts'],
  },
  'soap-limits': { mutate: ['src/protocol/soap/xml-limits.ts'], testFiles: ['test/unit/protocol/soap/xml-limits.test.ts'] },
  'soap-xml-tree': { mutate: ['src/protocol/soap/xml-tree.ts'], testFiles: ['test/unit/protocol/soap/xml-tree.test.ts'] },
  policy: { mutate: ['src/policy/**/*.ts'], testFiles: ['test/unit/policy/**/*.test.ts'] },
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = args.indexOf('--concurrency');
  const concurrency = flag >= 0 ? Number(args[flag + 1]) : undefined;
  const named = args.filter((a, i) => !a.startsWith('--') && (flag < 0 || i !== flag + 1));
  const unknown = named.filter((n) => !(n in SLICES));
  if (unknown.length) throw new Error(`unknown slice ${unknown.join(', ')}; slices: ${Object.keys(SLICES).join(', ')}`);
  for (const name of named.length ? named : Object.keys(SLICES)) {
    const s = SLICES[name]!;
    const started = Date.now();
    const results = await new Stryker({
      mutate: s.mutate,
      testFiles: s.testFiles,
      incrementalFile: `reports/stryker-incremental/${name}.json`,
      jsonReporter: { fileName: `reports/mutation/${name}.json` },
      htmlReporter: { fileName: `reports/mutation/${name}.html` },
      ...(concurrency ? { concurrency } : {}),
    }).runMutationTest();
    console.log(`slice ${name}: ${results.length} mutants in ${Math.round((Date.now() - started) / 1000)} s`);
  }
}

await main();
