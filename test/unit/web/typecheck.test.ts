import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..', '..', '..');

/**
 * The browser apps (src/web/console, enroll, shared) are bundled by esbuild, which does not check
 * types, and the root tsconfig leaves them out (they need the DOM library and preact's JSX). This
 * runs their own tsconfig so that `npm test` (and CI) fails on a type error in them.
 */
describe('browser code type-checks (src/web/tsconfig.json)', () => {
  it('has no TypeScript errors', async () => {
    const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
    const out = await new Promise<{ code: number; text: string }>((resolve) => {
      const p = spawn(process.execPath, [tsc, '-p', join(ROOT, 'src/web/tsconfig.json')], { cwd: ROOT });
      let text = '';
      p.stdout.on('data', (d: Buffer) => (text += d.toString()));
      p.stderr.on('data', (d: Buffer) => (text += d.toString()));
      p.on('close', (code) => resolve({ code: code ?? 1, text }));
    });
    expect(out.text).toBe('');
    expect(out.code).toBe(0);
  });
});
