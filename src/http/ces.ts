import type { IncomingMessage } from 'node:http';
import type { Principal } from '../auth/principal.js';
import type { Core } from '../app/core-types.js';
import { OpencesError } from '../errors.js';
import type { EnrollmentOutcome } from '../enrollment/types.js';
import { CMC_FAIL_INFO, buildPkiResponse, pendTokenFor } from '../protocol/cmc/index.js';
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
  /**
   * The CMC full response: the CA's signed one (with the certificate, or built by the CA from the
   * request's recorded state); an unsigned one of the same shape only when the CA cannot sign
   * responses (an older remote CA node, or one unreachable just now).
   */
  const fullResponse = async (out: EnrollmentOutcome & { requestId: string }): Promise<Uint8Array> => {
    if (out.status === 'issued' && out.fullResponse) return out.fullResponse;
    const signed = await core.ra.pkiResponse(out.requestId);
    if (signed) return signed;
    const chain = core.ca.info().chain;
    switch (out.status) {
      case 'issued':
        return buildPkiResponse({ status: 'success', bodyList: [1], statusString: out.message, issuedCertificate: out.certificate, certificates: [out.certificate, ...out.chain] });
      case 'pending':
        return buildPkiResponse({ status: 'pending', bodyList: [1], statusString: out.message, pendInfo: { token: pendTokenFor(out.requestId), time: core.clock.now() }, certificates: chain });
      case 'denied':
        return buildPkiResponse({ status: 'failed', bodyList: [1], statusString: out.message, failInfo: CMC_FAIL_INFO.badRequest, certificates: chain });
    }
  };
  const render = async (out: EnrollmentOutcome): Promise<string> => {
    switch (out.status) {
      case 'issued':
        return buildRstrIssued({ requestId: out.requestId, certificateDer: out.certificate, fullResponseDer: await fullResponse(out), message: out.message });
      case 'pending':
        return buildRstrPending({ requestId: out.requestId, message: out.message, referenceUri: o.endpointUrl, fullResponseDer: await fullResponse(out) });
      case 'denied':
        // A request never recorded (undecodable) has no CMC answer: BinaryResponse nil, as ADCS sends it.
        throw new OpencesError(out.malformed ? 'malformed' : 'policyDenied', out.message, {
          hresult: out.hresult,
          invalidRequest: out.invalidRequest,
          ...(out.requestId ? { requestId: out.requestId, binaryResponseDer: await fullResponse({ ...out, requestId: out.requestId }) } : {}),
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
      return { action: WSTEP.responseAction, body: await render(out) };
    },
  };
}
