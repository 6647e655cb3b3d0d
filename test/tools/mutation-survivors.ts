/**
 * `node --import tsx test/tools/mutation-survivors.ts reports/mutation/<slice>.json [file-substring]`:
 * the mutants that survived or had no coverage, one line each (file:line:col, mutator, the
 * replacement), to read before writing the test that kills them.
 */
import { readFileSync } from 'node:fs';

interface Mutant {
  mutatorName: string;
  replacement?: string;
  status: string;
  location: { start: { line: number; column: number } };
}
const report = JSON.parse(readFileSync(process.argv[2] ?? 'reports/mutation/mutation.json', 'utf8')) as { files: Record<string, { source: string; mutants: Mutant[] }> };
const only = process.argv[3];
for (const [path, f] of Object.entries(report.files)) {
  if (only && !path.includes(only)) continue;
  const lines = f.source.split('\n');
  for (const m of f.mutants.filter((x) => x.status === 'Survived' || x.status === 'NoCoverage').sort((a, b) => a.location.start.line - b.location.start.line)) {
    const src = lines[m.location.start.line - 1]!.trim().slice(0, 110);
    console.log(`${m.status === 'Survived' ? 'S' : 'N'} ${path}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName} → ${(m.replacement ?? '').replace(/\s+/g, ' ').slice(0, 60)}  | ${src}`);
  }
}
