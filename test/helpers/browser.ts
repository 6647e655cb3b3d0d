import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium (.ci/run installs it); playwright-core drives it, no downloaded browser. */
export const CHROMIUM = process.env.OPENCES_CHROMIUM ?? '/usr/bin/chromium';
const inCi = (): boolean => process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

/** Why browser tests cannot run here, or null. Under CI a missing chromium is a failure, not a skip. */
export function browserMissing(): string | null {
  if (existsSync(CHROMIUM)) return null;
  if (inCi()) throw new Error(`${CHROMIUM} is missing: .ci/run installs the Debian package chromium`);
  return `${CHROMIUM} is missing (apt-get install chromium)`;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'] });
}

/** Screenshots are test artifacts kept after the run (test-artifacts/ is ignored by git). */
export const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');

export async function screenshot(page: Page, dir: string, name: string): Promise<string> {
  const d = join(ARTIFACTS, dir);
  mkdirSync(d, { recursive: true });
  const file = join(d, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * axe-core's WCAG 2 A/AA rules on the page as it is; the serious and critical violations. The
 * script goes in through the DevTools protocol (page.evaluate), which the page's CSP does not
 * govern: the page's own policy stays as strict as it is in production.
 */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(axeSource);
  // Runs in the page (a string: this file is type-checked without the DOM library).
  const found = (await page.evaluate(`(async () => {
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => JSON.stringify(n.target)) }));
  })()`)) as AxeViolation[];
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Whether the page is wider than the viewport (it must not scroll sideways; wide tables scroll in their box). */
export function overflowsViewport(page: Page): Promise<boolean> {
  return page.evaluate('document.documentElement.scrollWidth > window.innerWidth + 1') as Promise<boolean>;
}
