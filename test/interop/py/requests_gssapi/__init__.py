"""Minimal stand-in for requests-gssapi (not packaged in Debian), built on python3-gssapi.

Only what cepces uses: HTTPSPNEGOAuth(...) as a requests auth handler that sends
`Authorization: Negotiate <token>` for the service HTTP@<host> and checks the server's
mutual-authentication token when one comes back. Test harness code only; never shipped.
"""
import base64
from urllib.parse import urlparse

import gssapi
from requests.auth import AuthBase

REQUIRED, OPTIONAL, DISABLED = 1, 2, 3


class HTTPSPNEGOAuth(AuthBase):
    def __init__(self, mutual_authentication=DISABLED, target_name="HTTP", delegate=False,
                 opportunistic_auth=True, creds=None, mech=None, sanitize_mutual_error_response=True,
                 channel_bindings=None, **_ignored):
        self.target_name = target_name
        self.delegate = delegate
        self.creds = creds
        self.mech = mech

    def _token(self, host):
        name = gssapi.Name("{}@{}".format(self.target_name, host), gssapi.NameType.hostbased_service)
        flags = [gssapi.RequirementFlag.mutual_authentication, gssapi.RequirementFlag.out_of_sequence_detection]
        if self.delegate:
            flags.append(gssapi.RequirementFlag.delegate_to_peer)
        ctx = gssapi.SecurityContext(name=name, creds=self.creds, usage="initiate", flags=flags,
                                     mech=self.mech or gssapi.MechType.kerberos)
        # Fresh context per request: a token is single-use (the server's replay cache refuses repeats).
        return base64.b64encode(ctx.step()).decode()

    def __call__(self, r):
        host = urlparse(r.url).hostname
        r.headers["Authorization"] = "Negotiate " + self._token(host)
        return r
