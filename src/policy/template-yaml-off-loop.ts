/**
 * Template YAML parsed off the event loop (issue #15 item 2). The yaml library costs up to
 * milliseconds per line: a 256 KiB document held a worker's event loop for ~0.5 s, stalling every
 * CEP/CES client of that node meanwhile. Imports are rare administrator actions, so each one gets
 * its own short-lived thread with a memory ceiling and a deadline instead of a pool that would
 * hold memory between them.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { OpencesError, type ErrorDetails, type ErrorKind } from '../errors.js';
import type { Template } from './template.js';
import { MAX_YAML_BYTES, templatesFromYaml } from './template-yaml.js';

/**
 * Documents up to this size are read in line: ~2.8 ms of CPU per KiB measured for an export, so at
 * most ~25 ms here, less than starting a thread costs. Larger ones go to a thread.
 */
export const IN_LINE_BYTES = 8 * 1024;
/** Far above what any accepted document takes (a 256 KiB export parses in ~0.7 s). */
const DEADLINE_MS = 20_000;
const HEAP_MB = 96;

type Reply = { ok: true; templates: Template[] } | { ok: false; kind: ErrorKind; message: string; details: ErrorDetails };

// Built, the thread is JavaScript beside this file. Under tsx or vitest both are TypeScript and a
// thread does not inherit the parent's loader: it registers tsx's (a dev dependency) itself first.
const isSource = import.meta.url.endsWith('.ts');
const entry = new URL(`./template-yaml-thread.${isSource ? 'ts' : 'js'}`, import.meta.url);
function spawn(workerData: unknown, options: ConstructorParameters<typeof Worker>[1]): Worker {
  if (!isSource) return new Worker(entry, { ...options, workerData });
  // The ESM flavour of tsx's API (a require() resolution would give the CommonJS one).
  const pkgPath = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  const tsx = new URL(pkg.exports['./esm/api']!.import.default, pathToFileURL(pkgPath)).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { ...options, eval: true, workerData });
}

export async function templatesFromYamlOffLoop(text: string): Promise<Template[]> {
  // Refuse the oversized document here: no reason to copy megabytes into a thread to learn that.
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_YAML_BYTES) throw new OpencesError('tooLarge', `the YAML document of ${bytes} bytes exceeds ${MAX_YAML_BYTES} bytes`, { field: 'body' });
  if (bytes <= IN_LINE_BYTES) return templatesFromYaml(text);
  const reply = await new Promise<Reply>((resolve, reject) => {
    const worker = spawn({ text }, {
      resourceLimits: { maxOldGenerationSizeMb: HEAP_MB, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
      stdout: false,
      stderr: false,
    });
    let settled = false;
    const finish = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      f();
    };
    const timer = setTimeout(() => finish(() => reject(new OpencesError('malformed', `the YAML took longer than ${DEADLINE_MS / 1000} s to read`, { field: 'body' }))), DEADLINE_MS);
    worker.once('message', (m: Reply) => finish(() => resolve(m)));
    // ERR_WORKER_OUT_OF_MEMORY and friends: the document is what made the thread fail.
    worker.once('error', (e) => finish(() => reject(new OpencesError('malformed', `the YAML cannot be read: ${e.message.slice(0, 200)}`, { field: 'body' }))));
    worker.once('exit', (code) => finish(() => reject(new OpencesError('internal', `the template reader stopped (exit ${code})`))));
  });
  if (!reply.ok) throw new OpencesError(reply.kind, reply.message, reply.details);
  return reply.templates;
}
