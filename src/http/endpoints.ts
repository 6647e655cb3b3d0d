/**
 * ADCS-compatible endpoint paths (conventions.md). Clients may add a trailing slash.
 */
export type EndpointAuth = 'Kerberos' | 'UsernamePassword' | 'Certificate';
export const ENDPOINT_AUTHS: EndpointAuth[] = ['Kerberos', 'UsernamePassword', 'Certificate'];

/** MS-XCEP clientAuthentication values. */
export const CLIENT_AUTHENTICATION: Record<EndpointAuth, number> = {
  Kerberos: 2,
  UsernamePassword: 4,
  Certificate: 8,
};

export function cepPath(auth: EndpointAuth): string {
  return `/ADPolicyProvider_CEP_${auth}/service.svc/CEP`;
}

/** The CA name with spaces as underscores, as ADCS names its CES virtual directories. */
export function caPathName(caName: string): string {
  return caName.replace(/ /g, '_');
}

export function cesPath(caName: string, auth: EndpointAuth): string {
  return `/${caPathName(caName)}_CES_${auth}/service.svc/CES`;
}
