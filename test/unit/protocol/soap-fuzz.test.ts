import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildFaultEnvelope, buildResponseEnvelope, parseEnvelope } from '../../../src/protocol/soap/index.js';
import { XCEP_ACTION, buildGetPoliciesRequest, buildGetPoliciesResponseBody, parseGetPolicies, parseGetPoliciesResponse } from '../../../src/protocol/xcep/index.js';
import { WSTEP, buildEnrollmentFaultDetail, buildRstRequest, buildRstrIssued, buildRstrPending, parseFault, parseRst, parseRstrResponse } from '../../../src/protocol/wstep/index.js';
import { OpencesError } from '../../../src/errors.js';

import { mutate, prng } from '../../helpers/fuzz.js';

function fuzz(name: string, seeds: Buffer[], parse: (b: Buffer) => unknown, iterations = 2000): void {
  const seed = 0x5eed + name.length * 7919 + Number(process.env.FUZZ_SEED ?? 0);
  const rnd = prng(seed);
  let slowest = 0;
  let typed = 0;
  for (let i = 0; i < iterations; i++) {
    const input = mutate(seeds[i % seeds.length]!, rnd);
    const t = performance.now();
    try {
      parse(input);
    } catch (e) {
      if (!(e instanceof OpencesError)) {
        throw new Error(`${name} seed ${seed} iteration ${i}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} on ${input.toString('base64').slice(0, 400)}`);
      }
      typed++;
    }
    let dt = performance.now() - t;
    // A pause of the collector or the JIT is not the input's cost: time a slow input again, and
    // count its best run (a pathological input is slow every time).
    for (let again = 0; dt >= 50 && again < 3; again++) {
      const t2 = performance.now();
      try {
        parse(input);
      } catch {
        // timing only
      }
      dt = Math.min(dt, performance.now() - t2);
    }
    slowest = Math.max(slowest, dt);
  }
  expect(typed).toBeGreaterThan(iterations / 10); // the mutations do break things
  expect(slowest).toBeLessThan(50);
}

const FIX = join(__dirname, '../../fixtures/soap');
const GETPOL = readFileSync(join(FIX, 'cepces-getpolicies-request.xml'));
const RST = readFileSync(join(FIX, 'cepces-rst-issue-request.xml'));
const OPTS = { maxBytes: 1 << 20 };
const env = (b: Buffer) => parseEnvelope(b, OPTS);

const cert = new Uint8Array(Buffer.from('308201', 'hex'));
const RESPONSE = Buffer.from(
  buildResponseEnvelope({
    action: XCEP_ACTION.getPoliciesResponse,
    relatesTo: 'urn:uuid:1',
    bodyXml: buildGetPoliciesResponseBody({
      policyID: 'p',
      policyFriendlyName: 'n',
      nextUpdateHours: 8,
      policiesNotChanged: false,
      policies: [{ policyOIDReference: 1, cAs: [0], attributes: { commonName: 'WebServer', policySchema: 2, validityPeriodSeconds: 1, renewalPeriodSeconds: 1, enroll: true, autoEnroll: false, privateKey: { minimalKeyLength: 2048, cryptoProviders: ['x'] }, majorRevision: 1, minorRevision: 0, supersededPolicies: ['a'], raRequirements: { rASignatures: 0, rAEKUs: [1] }, keyArchival: { symmetricAlgorithmOIDReference: 1, symmetricAlgorithmKeyLength: 1 }, extensions: [{ oIDReference: 1, critical: false, value: cert }] } }],
      cAs: [{ uris: [{ clientAuthentication: 4, uri: 'https://x/CES', priority: 1, renewalOnly: false }], certificate: cert, enrollPermission: true, cAReferenceID: 0 }],
      oIDs: [{ value: '1.2.3', group: 9, oIDReferenceID: 1, defaultName: 'WebServer' }],
    }),
  }),
);
const ISSUED = Buffer.from(buildResponseEnvelope({ action: WSTEP.responseAction, relatesTo: 'urn:uuid:1', bodyXml: buildRstrIssued({ requestId: '7', certificateDer: cert, fullResponseDer: cert }) }));
const PENDING = Buffer.from(buildResponseEnvelope({ action: WSTEP.responseAction, bodyXml: buildRstrPending({ requestId: '7', message: 'Taken Under Submission', referenceUri: 'https://x/CES', fullResponseDer: cert }) }));
const FAULT = Buffer.from(buildFaultEnvelope({ code: 'Receiver', subcode: { ns: 'urn:x', local: 'y' }, reason: 'denied', detailXml: buildEnrollmentFaultDetail({ errorCode: 0x80094012, invalidRequest: true, requestId: '3', binaryResponseDer: cert }) }));

describe('SOAP codec fuzzing: malformed input only ever raises OpencesError, each parse < 50 ms', () => {
  it('server: envelope + GetPolicies (capture and client-built request)', () => {
    fuzz('getpolicies', [GETPOL, Buffer.from(buildGetPoliciesRequest({ to: 'x', usernameToken: { username: 'a', password: 'b', nonce: cert, created: new Date(0) }, policyOids: ['1.2.3'], lastUpdate: new Date(0) }))], (b) => parseGetPolicies(env(b)));
  });
  it('server: envelope + RequestSecurityToken (capture and client-built renew with context)', () => {
    fuzz('rst', [RST, Buffer.from(buildRstRequest({ to: 'x', requestType: 'renew', token: { valueType: 'pkcs7', der: cert }, requestId: '5', additionalContext: [{ name: 'ccm', value: 'h' }] }))], (b) => parseRst(env(b), { maxTokenBytes: 1 << 16 }));
  });
  it('client: GetPoliciesResponse', () => {
    fuzz('getpoliciesresponse', [RESPONSE], (b) => parseGetPoliciesResponse(env(b)));
  });
  it('client: RSTR issued / pending and faults', () => {
    fuzz('rstr', [ISSUED, PENDING, FAULT], (b) => {
      const e = env(b);
      return parseFault(e) ?? parseRstrResponse(e);
    });
  });
});
