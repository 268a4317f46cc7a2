"""pyjwt_tool.py: an independent JWT producer and consumer for the Go interop
tests, built on Debian's python3-jwt (PyJWT) and python3-jwcrypto. It reads a
JSON array of requests on stdin and writes a JSON array of results on stdout,
with the same protocol as ../js/jose_tool.mjs:

  {"op": "sign", "alg": "ES256", "claims": {...}, "secret": "<base64url, HS*>",
   "variants": [{"kid": true, "typ": "at+jwt"}, {"kid": false}]}
    -> {"kid": "...", "jwks": {"keys": [...]} or None, "tokens": [...]}
  {"op": "verify", "token": "...", "jwksUrl": "http://127.0.0.1:...",
   "algorithms": ["ES256"], "issuer": "...", "audience": "..."}
    -> {"ok": True, "payload": {...}} or {"ok": False, "error": "..."}

Keys are generated with cryptography; the JWK Set is exported by jwcrypto,
tokens are signed and verified by PyJWT (PyJWKClient fetches the set).
"""
import base64
import json
import sys

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwcrypto import jwk

CURVES = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def new_key(alg):
    if alg[:2] in ("RS", "PS"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg in CURVES:
        return ec.generate_private_key(CURVES[alg])
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError("unsupported algorithm " + alg)


def sign(req):
    alg = req["alg"]
    kid = "pyjwt-" + alg.lower()
    jwks = None
    if alg.startswith("HS"):
        key = b64url_decode(req["secret"])
    else:
        key = new_key(alg)
        public = jwk.JWK.from_pyca(key.public_key()).export_public(as_dict=True)
        public.update({"kid": kid, "alg": alg, "use": "sig"})
        jwks = {"keys": [public]}
    tokens = []
    for v in req["variants"]:
        # PyJWT writes typ "JWT" unless told otherwise; None removes it.
        headers = {"typ": v.get("typ")}
        if v.get("kid"):
            headers["kid"] = kid
        tokens.append(jwt.encode(req["claims"], key, algorithm=alg, headers=headers))
    return {"kid": kid, "jwks": jwks, "tokens": tokens}


def verify(req):
    try:
        if req.get("jwksUrl"):
            key = jwt.PyJWKClient(req["jwksUrl"]).get_signing_key_from_jwt(req["token"]).key
        else:
            key = b64url_decode(req["secret"])
        payload = jwt.decode(
            req["token"], key, algorithms=req["algorithms"],
            audience=req.get("audience"), issuer=req.get("issuer"),
            options={"require": ["exp", "iat"]})
        return {"ok": True, "payload": payload, "header": jwt.get_unverified_header(req["token"])}
    except Exception as e:  # reported to the Go test, which decides
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}


def main():
    out = []
    for req in json.load(sys.stdin):
        out.append(sign(req) if req["op"] == "sign" else verify(req))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
