import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmp } from './openssl.js';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const softhsmAvailable = existsSync(SOFTHSM_MODULE) && existsSync('/usr/bin/softhsm2-util');

export interface SoftHsm {
  dir: string;
  tokenDir: string;
  label: string;
  pin: string;
  pinFile: string;
  /** Removes the token directory and its configuration. */
  cleanup(): void;
}

/**
 * A throwaway SoftHSM2 token: its own configuration file and token directory, selected through
 * SOFTHSM2_CONF (read by the module at C_Initialize). One per test file.
 */
export function softHsm(label = 'opences-ca', pin = '2468-1357'): SoftHsm {
  const dir = tmp('opences-softhsm-');
  const tokenDir = join(dir, 'tokens');
  mkdirSync(tokenDir, { recursive: true });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  process.env.SOFTHSM2_CONF = conf;
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', '97531', '--pin', pin], { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: 'pipe' });
  const pinFile = join(dir, 'pin');
  writeFileSync(pinFile, `${pin}\n`, { mode: 0o600 });
  return { dir, tokenDir, label, pin, pinFile, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
