/**
 * `npm run mutate:score [report.json…]`: the mutation score per directory from StrykerJS's JSON
 * reports (by default every slice's, reports/mutation/*.json; mutation-testing-report-schema), as the Markdown table that
 * docs/testing.md carries. Score = killed + timed out over all valid mutants (Stryker's definition:
 * "no coverage" counts against the score; compile errors and ignored mutants do not count).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

interface Mutant {
  status: 'Killed' | 'Survived' | 'NoCoverage' | 'Timeout' | 'CompileError' | 'RuntimeError' | 'Ignored' | 'Pending';
}
interface Report {
  files: Record<string, { mutants: Mutant[] }>;
}

const dir = 'reports/mutation';
const files = process.argv.length > 2 ? process.argv.slice(2) : readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => join(dir, f));
// Slices mutate disjoint files (test/tools/mutate.ts); a file in two reports counts once, from the last.
const merged: Report['files'] = {};
for (const file of files) Object.assign(merged, (JSON.parse(readFileSync(file, 'utf8')) as Report).files);
const rows = new Map<string, { killed: number; survived: number; noCoverage: number; timeout: number }>();
for (const [path, f] of Object.entries(merged)) {
  const dir = dirname(path.replace(/^.*?(src\/)/, '$1'));
  const r = rows.get(dir) ?? { killed: 0, survived: 0, noCoverage: 0, timeout: 0 };
  for (const m of f.mutants) {
    if (m.status === 'Killed') r.killed++;
    else if (m.status === 'Survived') r.survived++;
    else if (m.status === 'NoCoverage') r.noCoverage++;
    else if (m.status === 'Timeout') r.timeout++;
  }
  rows.set(dir, r);
}
const pct = (r: { killed: number; survived: number; noCoverage: number; timeout: number }): string => {
  const valid = r.killed + r.timeout + r.survived + r.noCoverage;
  return valid === 0 ? 'n/a' : `${(((r.killed + r.timeout) / valid) * 100).toFixed(1)} %`;
};
const total = { killed: 0, survived: 0, noCoverage: 0, timeout: 0 };
const lines = ['| directory | killed | timed out | survived | no coverage | score |', '|---|---|---|---|---|---|'];
for (const [dir, r] of [...rows].sort(([a], [b]) => a.localeCompare(b))) {
  lines.push(`| ${dir} | ${r.killed} | ${r.timeout} | ${r.survived} | ${r.noCoverage} | ${pct(r)} |`);
  total.killed += r.killed;
  total.survived += r.survived;
  total.noCoverage += r.noCoverage;
  total.timeout += r.timeout;
}
lines.push(`| **all** | ${total.killed} | ${total.timeout} | ${total.survived} | ${total.noCoverage} | ${pct(total)} |`);
console.log(lines.join('\n'));
