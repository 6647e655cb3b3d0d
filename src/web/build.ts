import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from src/web/build.ts (tests, tsx) or dist/web/build.js (npm's prepare). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WEB_SRC = join(ROOT, 'src', 'web');
export const WEB_OUT = join(ROOT, 'dist', 'web');

/** dist/web/manifest.json: for each page bundle, its hashed script and style sheet under assets/. */
export interface WebManifest {
  entries: Record<string, { js: string; css?: string }>;
}

/** The browser apps: every src/web/<name>/main.tsx is one bundle (console, enroll). */
export function webEntries(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(WEB_SRC)) {
    const main = join(WEB_SRC, name, 'main.tsx');
    if (existsSync(main)) out[name] = main;
  }
  return out;
}

/**
 * Bundles the browser apps with esbuild into dist/web/assets/ under content-hashed names (served
 * immutable) and writes the manifest the server reads to link them. Shared code (preact, the
 * shared components) goes into hashed chunks both pages load. No source maps: nothing to leak.
 */
export async function buildWeb(outDir = WEB_OUT): Promise<WebManifest> {
  // esbuild is a build-time tool (devDependency): loaded only when building.
  const { build } = await import('esbuild');
  const assets = join(outDir, 'assets');
  rmSync(assets, { recursive: true, force: true });
  mkdirSync(assets, { recursive: true });
  const result = await build({
    entryPoints: webEntries(),
    outdir: assets,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    assetNames: '[name]-[hash]',
    metafile: true,
    legalComments: 'eof',
    logLevel: 'warning',
  });
  const manifest: WebManifest = { entries: {} };
  for (const [file, out] of Object.entries(result.metafile.outputs)) {
    if (!out.entryPoint) continue;
    const name = relative(WEB_SRC, resolve(ROOT, out.entryPoint)).split(/[\\/]/)[0]!;
    manifest.entries[name] = { js: relative(assets, resolve(ROOT, file)), ...(out.cssBundle ? { css: relative(assets, resolve(ROOT, out.cssBundle)) } : {}) };
  }
  writeFileSync(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Newest modification time under a directory (browser sources), to tell whether a build is stale. */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** A build lock older than this was left by a process that died while building: taken over. */
const STALE_LOCK_MS = 120_000;

/**
 * Builds unless dist/web holds a build newer than every browser source (tests call this). Test
 * files run in parallel workers: one builds while the others wait for it (an atomic mkdir as the
 * lock), so nobody empties dist/web/assets under a page another worker is loading.
 */
export async function ensureWebBuilt(): Promise<void> {
  const manifest = join(WEB_OUT, 'manifest.json');
  const fresh = (): boolean => existsSync(manifest) && statSync(manifest).mtimeMs >= newest(WEB_SRC);
  if (fresh()) return;
  const lock = join(dirname(WEB_OUT), '.web-build.lock');
  mkdirSync(dirname(lock), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) rmSync(lock, { recursive: true, force: true });
      } catch {
        // released meanwhile
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    if (!fresh()) await buildWeb();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildWeb().then(
    (m) => console.log(`web assets built: ${Object.keys(m.entries).join(', ')} → ${relative(process.cwd(), WEB_OUT)}`),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
