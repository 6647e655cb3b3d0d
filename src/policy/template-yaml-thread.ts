/**
 * Worker-thread entry for template YAML (see template-yaml-off-loop.ts): parses one document and
 * posts back the templates or the typed error. Runs nothing else.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isOpencesError } from '../errors.js';
import { templatesFromYaml } from './template-yaml.js';

const text = (workerData as { text: string }).text;
try {
  parentPort!.postMessage({ ok: true, templates: templatesFromYaml(text) });
} catch (e) {
  parentPort!.postMessage(
    isOpencesError(e)
      ? { ok: false, kind: e.kind, message: e.message, details: e.details }
      : { ok: false, kind: 'malformed', message: `the YAML cannot be read: ${e instanceof Error ? e.message.slice(0, 200) : 'invalid'}`, details: {} },
  );
}
