"""Minimal stand-in for requests-gssapi (not packaged in Debian), built on python3-gssapi.

Only what cepces uses: HTTPSPNEGOAuth(...) as a requests auth handler that answers a
`401 WWW-Authenticate: Negotiate` with `Authorization: Negotiate <token>` for the service
HTTP@<host> (or sends the token at once with opportunistic_auth=True), and, as requests-gssapi
does with channel_bindings="tls-server-end-point" (cepces >= 0.3.17), binds the token to the TLS
connection: RFC 5929 tls-server-end-point of the certificate the 401 came over. Test harness code
only; never shipped.
"""
import base64
from urllib.parse import urlparse

import gssapi
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from requests.auth import AuthBase

REQUIRED, OPTIONAL, DISABLED = 1, 2, 3


def _peer_certificate(response):
    """DER of the server certificate of the connection a response came over (urllib3 1.26/2.x)."""
    for path in (("raw", "_fp", "fp", "raw", "_sock"), ("raw", "_connection", "sock")):
        obj = response
        try:
            for attr in path:
                obj = getattr(obj, attr)
            der = obj.getpeercert(True)
            if der:
                return der
        except AttributeError:
            continue
    return None


def _end_point(der):
    """RFC 5929 tls-server-end-point: the certificate's hash, SHA-256 for MD5/SHA-1 signatures."""
    cert = x509.load_der_x509_certificate(der)
    algorithm = cert.signature_hash_algorithm
    if algorithm is None or isinstance(algorithm, (hashes.MD5, hashes.SHA1)):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(der)
    return digest.finalize()


class HTTPSPNEGOAuth(AuthBase):
    def __init__(self, mutual_authentication=DISABLED, target_name="HTTP", delegate=False,
                 opportunistic_auth=False, creds=None, mech=None, sanitize_mutual_error_response=True,
                 channel_bindings=None, **_ignored):
        self.target_name = target_name
        self.delegate = delegate
        self.creds = creds
        self.mech = mech
        self.opportunistic_auth = opportunistic_auth
        self.channel_bindings = channel_bindings

    def _bindings(self, response):
        if self.channel_bindings != "tls-server-end-point" or response is None:
            return None
        der = _peer_certificate(response)
        if der is None:
            return None
        return gssapi.raw.ChannelBindings(application_data=b"tls-server-end-point:" + _end_point(der))

    def _token(self, host, response=None):
        name = gssapi.Name("{}@{}".format(self.target_name, host), gssapi.NameType.hostbased_service)
        flags = [gssapi.RequirementFlag.mutual_authentication, gssapi.RequirementFlag.out_of_sequence_detection]
        if self.delegate:
            flags.append(gssapi.RequirementFlag.delegate_to_peer)
        ctx = gssapi.SecurityContext(name=name, creds=self.creds, usage="initiate", flags=flags,
                                     mech=self.mech or gssapi.MechType.kerberos,
                                     channel_bindings=self._bindings(response))
        # Fresh context per request: a token is single-use (the server's replay cache refuses repeats).
        return base64.b64encode(ctx.step()).decode()

    def _handle_401(self, response, **kwargs):
        if response.status_code != 401 or "negotiate" not in response.headers.get("www-authenticate", "").lower():
            return response
        if "Authorization" in response.request.headers:
            return response  # our token was refused: no second try, as requests-gssapi
        host = urlparse(response.url).hostname
        token = self._token(host, response)  # before the body is read and the connection released
        _ = response.content
        response.raw.release_conn()
        prep = response.request.copy()
        prep.headers["Authorization"] = "Negotiate " + token
        retry = response.connection.send(prep, **kwargs)
        retry.history.append(response)
        retry.request = prep
        return retry

    def __call__(self, r):
        if self.opportunistic_auth:
            r.headers["Authorization"] = "Negotiate " + self._token(urlparse(r.url).hostname)
        r.register_hook("response", self._handle_401)
        return r
