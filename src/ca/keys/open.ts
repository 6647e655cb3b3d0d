import { readFileSync } from 'node:fs';
import type { Config } from '../../config.js';
import { OpencesError } from '../../errors.js';
import type { KeyStore } from '../types.js';
import { FileKeyStore } from './file.js';
import { Pkcs11KeyStore } from './pkcs11.js';

/** The PIN of the PKCS#11 token: from ca.pkcs11.pinFile, else OPENCES_PKCS11_PIN (never a flag: flags show in `ps`). */
export function pkcs11Pin(config: Config, env: NodeJS.ProcessEnv = process.env): { pin: string; source: string } {
  const file = config.ca.pkcs11?.pinFile;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new OpencesError('unavailable', `ca.pkcs11.pinFile: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const pin = text.replace(/\r?\n$/, '');
    if (!pin) throw new OpencesError('unavailable', `ca.pkcs11.pinFile: ${file} is empty`);
    return { pin, source: 'ca.pkcs11.pinFile' };
  }
  const pin = env.OPENCES_PKCS11_PIN;
  if (!pin) throw new OpencesError('unavailable', 'ca.pkcs11.pinFile: no PIN for the token (set ca.pkcs11.pinFile or OPENCES_PKCS11_PIN)');
  return { pin, source: 'OPENCES_PKCS11_PIN' };
}

/** The key store the configuration names (ca.keyStore): CA key files in the data directory, or a PKCS#11 token. */
export function openKeyStore(config: Config): KeyStore {
  if (config.ca.keyStore === 'pkcs11' && config.ca.pkcs11) {
    const p = config.ca.pkcs11;
    const { pin, source } = pkcs11Pin(config);
    return Pkcs11KeyStore.open({
      module: p.module,
      ...(p.tokenLabel ? { tokenLabel: p.tokenLabel } : {}),
      ...(p.tokenSerial ? { tokenSerial: p.tokenSerial } : {}),
      pin,
      pinSource: source,
      sessions: p.sessions,
      rsaPadding: p.rsaPadding,
    });
  }
  return new FileKeyStore(config.dataDir, process.env.OPENCES_CA_KEY_PASSPHRASE || undefined);
}
