#!/usr/bin/env bash
# Interoperability suite (interop/ module): tokens and JWK Sets of npm jose
# and Debian's PyJWT/jwcrypto against the interceptor, the reverse, and a
# real flask-jwt-simple app. Needs the root go.work (use ./interop).
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs="python3-jwt python3-jwcrypto python3-flask-jwt-simple"
if ! /usr/bin/python3 -c 'import jwt, jwcrypto, flask_jwt_simple' 2>/dev/null; then
  apt-get update -qq
  # python3-jwcrypto only if this Debian has it.
  if ! apt-cache show python3-jwcrypto >/dev/null 2>&1; then pkgs="python3-jwt python3-flask-jwt-simple"; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi
/usr/bin/python3 -c 'import jwt, flask; print("PyJWT", jwt.__version__, "Flask", flask.__version__)'

npm ci --prefix interop/js --no-audit --no-fund
node -e 'console.log("jose", require("./interop/js/node_modules/jose/package.json").version)'

(cd interop && go vet ./... && go test -race -count=1 ./...)
