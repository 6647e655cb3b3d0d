/**
 * `node --import tsx test/fuzz/coverage.ts DIR [--prefix src/] [--only a/,b.ts]`: summarises the V8
 * coverage a fuzz run wrote (`NODE_V8_COVERAGE=DIR npm run fuzz -- …`) for our own sources: per file,
 * the functions entered and the V8 block ranges executed. No instrumentation: what V8 counted while
 * the campaign ran.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Range {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface FunctionCoverage {
  functionName: string;
  ranges: Range[];
  isBlockCoverage: boolean;
}
interface ScriptCoverage {
  url: string;
  functions: FunctionCoverage[];
}

const dir = process.argv[2];
if (!dir) {
  console.error('usage: coverage.ts DIR [--prefix src/]');
  process.exit(2);
}
const pi = process.argv.indexOf('--prefix');
const prefix = pi > 0 ? process.argv[pi + 1]! : 'src/';
const root = join(fileURLToPath(import.meta.url), '../../..') + '/';

/**
 * Per script and function: whether it was entered, and which of V8's block ranges ran (merged over
 * every process file). Bytes are no measure here: tsx appends an inline source map to each module.
 */
const scripts = new Map<string, { fns: Map<string, boolean>; blocks: Map<string, boolean> }>();
for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
  const data = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { result: ScriptCoverage[] };
  for (const s of data.result) {
    if (!s.url.startsWith('file://')) continue;
    const path = fileURLToPath(s.url).replace(root, '');
    if (!path.startsWith(prefix) || path.includes('node_modules')) continue;
    let e = scripts.get(path);
    if (!e) {
      e = { fns: new Map(), blocks: new Map() };
      scripts.set(path, e);
    }
    for (const fn of s.functions) {
      if (!fn.functionName) continue; // the module's top level
      const key = `${fn.functionName}@${fn.ranges[0]!.startOffset}`;
      e.fns.set(key, (e.fns.get(key) ?? false) || fn.ranges[0]!.count > 0);
      for (const r of fn.ranges) {
        const b = `${r.startOffset}-${r.endOffset}`;
        e.blocks.set(b, (e.blocks.get(b) ?? false) || r.count > 0);
      }
    }
  }
}

const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1]!.split(',') : undefined;
let totalBlocks = 0;
let hitBlocks = 0;
let totalFns = 0;
let hitFns = 0;
const rows: string[] = [];
for (const [path, e] of [...scripts].sort(([a], [b]) => a.localeCompare(b))) {
  if (only && !only.some((o) => path.startsWith(o))) continue;
  if (e.fns.size === 0) continue;
  const bh = [...e.blocks.values()].filter(Boolean).length;
  const fh = [...e.fns.values()].filter(Boolean).length;
  totalBlocks += e.blocks.size;
  hitBlocks += bh;
  totalFns += e.fns.size;
  hitFns += fh;
  rows.push(`| ${path} | ${fh}/${e.fns.size} | ${bh}/${e.blocks.size} (${((100 * bh) / e.blocks.size).toFixed(0)} %) |`);
}
console.log('| file | functions entered | V8 blocks executed |\n|---|---|---|');
console.log(rows.join('\n'));
console.log(`| **${rows.length} files** | **${hitFns}/${totalFns} (${((100 * hitFns) / totalFns).toFixed(0)} %)** | **${hitBlocks}/${totalBlocks} (${((100 * hitBlocks) / totalBlocks).toFixed(0)} %)** |`);
