"""flask_app.py: a real flask-jwt-simple 0.0.3 service (Debian's
python3-flask-jwt-simple) for the Go interop tests. It listens on a free
loopback port, prints "PORT <n>" on stdout, and serves until killed:

  GET  /protected       @jwt_required: {"identity": ..., "claims": {...}}
  POST /login?identity= create_jwt(identity): {"jwt": "..."}

JWT_SECRET_KEY comes from the environment; every other setting is the
library's default (HS256, one hour, identity claim "sub", "Bearer").
"""
import os
import sys

from flask import Flask, jsonify, request
from flask_jwt_simple import JWTManager, create_jwt, get_jwt, get_jwt_identity, jwt_required
from werkzeug.serving import make_server

app = Flask(__name__)
app.config["JWT_SECRET_KEY"] = os.environ["JWT_SECRET_KEY"]
JWTManager(app)


@app.route("/protected")
@jwt_required
def protected():
    return jsonify(identity=get_jwt_identity(), claims=get_jwt())


@app.route("/login", methods=["POST"])
def login():
    return jsonify(jwt=create_jwt(identity=request.args["identity"]))


if __name__ == "__main__":
    server = make_server("127.0.0.1", 0, app)
    print("PORT %d" % server.server_port, flush=True)
    sys.stdout.flush()
    server.serve_forever()
