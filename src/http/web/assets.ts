import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Request, Response } from 'express';
import { SECURITY_HEADERS } from './headers.js';

/** dist/web, from src/http/web (tests) or dist/http/web (built): three levels up is the package root. */
export const WEB_DIR = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'), 'dist', 'web');
export const ASSET_PATH = '/web/assets';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
  '.png': 'image/png',
};
const FILE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9]+)$/;

interface Manifest {
  entries: Record<string, { js: string; css?: string }>;
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The built browser apps (src/web/build.ts): hashed files under /web/assets/ served immutable for
 * a year, and the HTML shell of each page, never cached, linking the current hashes.
 */
export class WebAssets {
  private manifest: Manifest | null = null;
  private manifestAt = 0;

  constructor(private readonly dir = WEB_DIR) {}

  /** The manifest, re-read when the build changed it (a rebuild while the server runs, in development). */
  private load(): Manifest | null {
    const file = join(this.dir, 'manifest.json');
    if (!existsSync(file)) return null;
    const at = statSync(file).mtimeMs;
    if (!this.manifest || at !== this.manifestAt) {
      this.manifest = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
      this.manifestAt = at;
    }
    return this.manifest;
  }

  /** GET /web/assets/:file */
  serve = (req: Request, res: Response): void => {
    const name = String(req.params.file ?? '');
    const m = FILE.exec(name);
    const path = join(this.dir, 'assets', name);
    res.set(SECURITY_HEADERS);
    if (!m || !TYPES[m[1]!] || !existsSync(path)) {
      res.status(404).set('cache-control', 'no-store').type('text/plain').send('not found\n');
      return;
    }
    // Content-hashed names: a changed file is a new name, so a year and `immutable` are safe.
    res.status(200).set('cache-control', 'public, max-age=31536000, immutable').type(TYPES[m[1]!]!).send(readFileSync(path));
  };

  /**
   * The HTML shell of a page: the bundle's style sheet and module script, and `data` as a JSON
   * block the script reads (JSON in a non-executable script element: the CSP allows it, no inline
   * code runs). Never cached: it names the current asset hashes and may carry the CSRF token.
   */
  page(res: Response, entry: string, o: { title: string; data?: Record<string, unknown> }): void {
    res.set(SECURITY_HEADERS).set('cache-control', 'no-store');
    const e = this.load()?.entries[entry];
    if (!e) {
      res.status(503).type('text/plain').send(`the ${entry} pages are not built: run npm run build:web\n`);
      return;
    }
    const json = JSON.stringify(o.data ?? {}).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
    const html = [
      '<!doctype html>',
      '<html lang="en">',
      '<head>',
      '<meta charset="utf-8">',
      '<meta name="viewport" content="width=device-width, initial-scale=1">',
      `<title>${escapeHtml(o.title)}</title>`,
      ...(e.css ? [`<link rel="stylesheet" href="${ASSET_PATH}/${e.css}">`] : []),
      `<script type="module" src="${ASSET_PATH}/${e.js}"></script>`,
      '</head>',
      '<body>',
      `<script type="application/json" id="opences-data">${json}</script>`,
      '<div id="app"></div>',
      '</body>',
      '</html>',
      '',
    ].join('\n');
    res.status(200).type('text/html; charset=utf-8').send(html);
  }
}
