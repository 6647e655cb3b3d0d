/**
 * `npm run mutate:score`: the mutation score per directory from StrykerJS's JSON report
 * (reports/mutation/mutation.json, mutation-testing-report-schema), as the Markdown table that
 * docs/testing.md carries. Score = killed + timed out over all valid mutants (Stryker's definition:
 * "no coverage" counts against the score; compile errors and ignored mutants do not count).
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';

interface Mutant {
  status: 'Killed' | 'Survived' | 'NoCoverage' | 'Timeout' | 'CompileError' | 'RuntimeError' | 'Ignored' | 'Pending';
}
interface Report {
  files: Record<string, { mutants: Mutant[] }>;
}

const file = process.argv[2] ?? 'reports/mutation/mutation.json';
const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
const rows = new Map<string, { killed: number; survived: number; noCoverage: number; timeout: number }>();
for (const [path, f] of Object.entries(report.files)) {
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
