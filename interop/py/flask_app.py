"""flask_app.py: a real flask-jwt-simple 0.0.3 service (Debian's
python3-flask-jwt-simple) for the Go interop tests. It listens on a free
loopback port, prints "PORT <n>" on stdout, and serves until killed:

  GET  /protected         @jwt_required: {"identity": ..., "claims": {...}}
  GET  /protected-access  the same, refusing tokens typed as anything but an
                          access token (connectjwt's refresh tokens), as the
                          README's migration section recommends
  POST /login?identity=   create_jwt(identity): {"jwt": "..."}; with &int=1
                          the identity is an integer

JWT_SECRET_KEY and (optionally) JWT_DECODE_AUDIENCE come from the
environment; every other setting is the library's default (HS256, one hour,
identity claim "sub", "Bearer").
"""
import os
import sys
from functools import wraps

import jwt

from flask import Flask, jsonify, request
from flask_jwt_simple import JWTManager, create_jwt, get_jwt, get_jwt_identity, jwt_required
from werkzeug.serving import make_server

app = Flask(__name__)
app.config["JWT_SECRET_KEY"] = os.environ["JWT_SECRET_KEY"]
if os.environ.get("JWT_DECODE_AUDIENCE"):
    app.config["JWT_DECODE_AUDIENCE"] = os.environ["JWT_DECODE_AUDIENCE"]
JWTManager(app)


def access_tokens_only(fn):
    """Refuses a token whose typ names another kind of token, such as
    connectjwt's refresh tokens (typ refresh+jwt): PyJWT does not look at
    typ. Put it under @jwt_required, which has verified the signature (and
    so the header) by then."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        token = request.headers["Authorization"].split()[1]
        typ = jwt.get_unverified_header(token).get("typ", "JWT").lower()
        if typ.removeprefix("application/") not in ("jwt", "at+jwt"):
            return jsonify(msg="Only access tokens are allowed"), 422
        return fn(*args, **kwargs)
    return wrapper


@app.route("/protected")
@jwt_required
def protected():
    return jsonify(identity=get_jwt_identity(), claims=get_jwt())


@app.route("/protected-access")
@jwt_required
@access_tokens_only
def protected_access():
    return jsonify(identity=get_jwt_identity(), claims=get_jwt())


@app.route("/login", methods=["POST"])
def login():
    identity = request.args["identity"]
    if request.args.get("int"):
        identity = int(identity)
    return jsonify(jwt=create_jwt(identity=identity))


if __name__ == "__main__":
    server = make_server("127.0.0.1", 0, app)
    print("PORT %d" % server.server_port, flush=True)
    sys.stdout.flush()
    server.serve_forever()
