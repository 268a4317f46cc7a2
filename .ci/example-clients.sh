#!/usr/bin/env bash
# Outside clients against the example: grpcurl (pinned, built from the Go
# proxy) and buf curl (tools/) find the services by reflection, get the
# AuthError detail without a token, and a token from Login works. gRPC
# answers carry no WWW-Authenticate; Connect's 401 does.
set -euo pipefail
cd "$(dirname "$0")/.."
grpcurl_version=v1.9.3
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
GOWORK=off GOBIN="$work" GOFLAGS=-mod=mod go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$grpcurl_version"
grpcurl=$work/grpcurl
buf=tools/node_modules/.bin/buf
go build -o "$work/example" ./example

JWT_SECRET_KEY=0123456789abcdef0123456789abcdef-ci-clients "$work/example" -addr 127.0.0.1:0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q '^listening on ' "$work/out" && break; sleep 0.1; done
base=$(sed -n 's/^listening on //p' "$work/out")
[ -n "$base" ] || { echo "example did not start" >&2; cat "$work/err" >&2; exit 1; }
hostport=${base#http://}

fail() { echo "example clients: $*" >&2; exit 1; }
expect() { # expect NAME PATTERN FILE
  grep -q -- "$2" "$3" || { cat "$3" >&2; fail "$1: no match for $2"; }
}
refuse() { # refuse NAME PATTERN FILE
  if grep -qi -- "$2" "$3"; then cat "$3" >&2; fail "$1: unexpected $2"; fi
}

"$grpcurl" -plaintext "$hostport" list >"$work/list"
expect "grpcurl list" '^example.v1.ProtectedService$' "$work/list"
expect "grpcurl list" '^connectjwt.v1.AuthService$' "$work/list"

"$grpcurl" -plaintext -v -d '{}' "$hostport" example.v1.ProtectedService/Protected >"$work/notoken" 2>&1 && fail "grpcurl without a token succeeded"
expect "grpcurl without a token" 'Code: Unauthenticated' "$work/notoken"
expect "grpcurl without a token" '"@type": "type.googleapis.com/connectjwt.v1.AuthError"' "$work/notoken"
expect "grpcurl without a token" '"reason": "REASON_MISSING"' "$work/notoken"
refuse "grpcurl without a token" 'www-authenticate' "$work/notoken"

"$grpcurl" -plaintext -d '{"username":"test","password":"test"}' "$hostport" connectjwt.v1.AuthService/Login >"$work/login"
token=$(sed -n 's/.*"accessToken": "\([^"]*\)".*/\1/p' "$work/login")
[ -n "$token" ] || fail "grpcurl Login returned no access token"
"$grpcurl" -plaintext -H "authorization: Bearer $token" -d '{"count": 2, "interval": "0.1s"}' \
  "$hostport" example.v1.ProtectedService/ProtectedStream >"$work/stream"
expect "grpcurl ProtectedStream" '"sequence": 2' "$work/stream"

"$buf" curl --protocol grpc --http2-prior-knowledge -v --data '{}' \
  "$base/example.v1.ProtectedService/Protected" >"$work/bufgrpc" 2>&1 && fail "buf curl (gRPC) without a token succeeded"
expect "buf curl (gRPC) without a token" '"type": "connectjwt.v1.AuthError"' "$work/bufgrpc"
expect "buf curl (gRPC) without a token" 'Grpc-Status: 16' "$work/bufgrpc"
refuse "buf curl (gRPC) without a token" 'www-authenticate' "$work/bufgrpc"

"$buf" curl -v --data '{}' "$base/example.v1.ProtectedService/Protected" >"$work/bufconnect" 2>&1 && fail "buf curl (Connect) without a token succeeded"
expect "buf curl (Connect) without a token" '"reason": "REASON_MISSING"' "$work/bufconnect"
expect "buf curl (Connect) without a token" 'Www-Authenticate: Bearer' "$work/bufconnect"

"$buf" curl --header "Authorization: Bearer $token" --data '{}' \
  "$base/example.v1.ProtectedService/Protected" >"$work/bufok"
expect "buf curl with a token" '"identity": "test"' "$work/bufok"
echo "example clients: grpcurl $grpcurl_version and buf curl work against the example"
