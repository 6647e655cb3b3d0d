import { OpencesError } from '../errors.js';

/** A denial or error answered by the enrollment service (a SOAP fault), with what Windows would show. */
export class EnrollmentDenied extends OpencesError {
  constructor(
    message: string,
    readonly errorCode: number | undefined,
    readonly requestId: string | undefined,
    readonly invalidRequest: boolean,
  ) {
    super('policyDenied', message, { hresult: errorCode, requestId });
    this.name = 'EnrollmentDenied';
  }
}
