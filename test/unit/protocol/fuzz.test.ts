import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnvelope } from '../../../src/protocol/soap/envelope.js';
import { parseGetPolicies } from '../../../src/protocol/xcep/index.js';
import { parseRst } from '../../../src/protocol/wstep/index.js';
import { parseCsr, verifyCsrSignature } from '../../../src/protocol/pkcs10/index.js';
import { buildPkiData, parsePkiData } from '../../../src/protocol/cmc/index.js';
import { buildCertsOnly, parseSignedData } from '../../../src/protocol/pkcs7/index.js';
import { OpencesError } from '../../../src/errors.js';
import { makeCsr } from '../../helpers/openssl.js';
import { prng } from '../../helpers/fuzz.js';

function mutate(input: Buffer, rnd: () => number): Buffer {
  const b = Buffer.from(input);
  const op = Math.floor(rnd() * 5);
  const at = Math.floor(rnd() * Math.max(1, b.length));
  switch (op) {
    case 0: // flip bytes
      for (let i = 0; i < 1 + Math.floor(rnd() * 8); i++) b[Math.floor(rnd() * b.length)] ^= 1 << Math.floor(rnd() * 8);
      return b;
    case 1: // truncate
      return b.subarray(0, at);
    case 2: // duplicate a slice
      return Buffer.concat([b.subarray(0, at), b.subarray(at, at + Math.floor(rnd() * 200)), b.subarray(at)]);
    case 3: // delete a slice
      return Buffer.concat([b.subarray(0, at), b.subarray(at + Math.floor(rnd() * 50))]);
    default: // insert random bytes
      return Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 16) }, () => Math.floor(rnd() * 256))), b.subarray(at)]);
  }
}

async function fuzz(name: string, seeds: Buffer[], parse: (b: Buffer) => unknown | Promise<unknown>, iterations = 2000): Promise<void> {
  const rnd = prng(0x0c35 + name.length + Number(process.env.FUZZ_SEED ?? 0));
  let slowest = 0;
  for (let i = 0; i < iterations; i++) {
    const input = mutate(seeds[i % seeds.length]!, rnd);
    const t = performance.now();
    try {
      await parse(input);
    } catch (e) {
      if (!(e instanceof OpencesError)) throw new Error(`${name} iteration ${i}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} on ${input.toString('base64').slice(0, 200)}`);
    }
    slowest = Math.max(slowest, performance.now() - t);
  }
  expect(slowest).toBeLessThan(250); // each parse well under 50 ms in practice; generous for CI noise
}

const FIX = join(__dirname, '../../fixtures/soap');
const GETPOL = readFileSync(join(FIX, 'cepces-getpolicies-request.xml'));
const RST = readFileSync(join(FIX, 'cepces-rst-issue-request.xml'));

describe('codec fuzzing: malformed input only ever raises typed errors', () => {
  it('SOAP envelope + GetPolicies', async () => {
    await fuzz('getpolicies', [GETPOL], (b) => parseGetPolicies(parseEnvelope(b, { maxBytes: 1 << 20 })));
  });
  it('SOAP envelope + RequestSecurityToken', async () => {
    await fuzz('rst', [RST], (b) => parseRst(parseEnvelope(b, { maxBytes: 1 << 20 }), { maxTokenBytes: 1 << 20 }));
  });
  const csr = makeCsr({ key: 'rsa:2048', sans: ['DNS:a.example.test'], templateName: 'WebServer' }).csrDer;
  const ecCsr = makeCsr({ key: 'ec:P-256' }).csrDer;
  it('PKCS#10', async () => {
    await fuzz('pkcs10', [csr, ecCsr], async (b) => {
      parseCsr(b);
      await verifyCsrSignature(b);
    });
  });
  it('CMC PKIData', async () => {
    await fuzz('cmc', [Buffer.from(buildPkiData({ csrDer: csr, nameValuePairs: { CertificateTemplate: 'WebServer' } }))], (b) => parsePkiData(b));
  });
  it('PKCS#7 SignedData', async () => {
    await fuzz('pkcs7', [Buffer.from(buildCertsOnly([csr]))], (b) => parseSignedData(b));
  });
});
