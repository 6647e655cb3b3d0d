import type { IncomingMessage } from 'node:http';
import type { Principal } from '../auth/principal.js';
import type { Core } from '../app/core-types.js';
import { OpencesError } from '../errors.js';
import type { EnrollmentOutcome } from '../enrollment/types.js';
import { buildPkiResponse } from '../protocol/cmc/index.js';
import type { SoapEnvelope } from '../protocol/soap/envelope.js';
import { WSTEP, buildRstrIssued, buildRstrPending, parseRst } from '../protocol/wstep/index.js';
import type { SoapOperation } from './soap-endpoint.js';

/** The address a caller used, for audit and rate limits. */
export function clientAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

/**
 * RequestSecurityToken: Issue / Renew go to the RA, QueryTokenStatus looks the request up.
 * Issued and pending are normal responses; a denial becomes a fault (MS-WSTEP 3.1.4.2.1.1).
 */
export function cesOperation(core: Core, o: { endpointUrl: string; renewalOnly: boolean; maxTokenBytes: number }): SoapOperation {
  const render = (out: EnrollmentOutcome): string => {
    switch (out.status) {
      case 'issued':
        return buildRstrIssued({
          requestId: out.requestId,
          certificateDer: out.certificate,
          fullResponseDer: buildPkiResponse({ status: 'success', bodyList: [1], certificates: [out.certificate, ...out.chain] }),
          message: out.message,
        });
      case 'pending':
        return buildRstrPending({
          requestId: out.requestId,
          message: out.message,
          referenceUri: o.endpointUrl,
          fullResponseDer: buildPkiResponse({ status: 'pending', bodyList: [1], statusString: out.message, pendInfo: { token: Buffer.from(out.requestId), time: core.clock.now() }, certificates: core.ca.info().chain }),
        });
      case 'denied':
        throw new OpencesError(out.invalidRequest ? 'malformed' : 'policyDenied', out.message, {
          hresult: out.hresult,
          requestId: out.requestId,
          binaryResponseDer: buildPkiResponse({ status: 'failed', bodyList: [1], statusString: out.message, failInfo: 2, certificates: [] }),
        });
    }
  };
  return {
    service: 'ces',
    actions: [WSTEP.action],
    async handle(env: SoapEnvelope, principal: Principal, req: IncomingMessage) {
      const rst = parseRst(env, { maxTokenBytes: o.maxTokenBytes });
      let out: EnrollmentOutcome;
      if (rst.requestType === 'queryTokenStatus') {
        out = await core.ra.status(rst.requestId!, principal);
      } else {
        out = await core.ra.submit({
          principal,
          address: clientAddress(req),
          kind: rst.requestType,
          format: rst.token!.valueType,
          raw: rst.token!.der,
          additionalContext: rst.additionalContext,
          renewalOnly: o.renewalOnly,
        });
      }
      return { action: WSTEP.responseAction, body: render(out) };
    },
  };
}
