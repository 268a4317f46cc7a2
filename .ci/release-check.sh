#!/usr/bin/env bash
# Release check: (1) publish the core and every nested module users `go get` at a
# test version to a local file:// GOPROXY, then, in a scratch module outside
# the repository with the workspace off, `go get` them and build the README's
# quickstart and a redisstore use; (2) check every nested module's go.mod and
# go.sum are tidy against the published core (the workspace off). Fails when a nested module requires an
# unpublished core version (v0.0.0, a pseudo-version) or carries a replace.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

version=v0.1.0
# Modules users `go get`, as <directory>. Add new ones here (one line each).
modules=(
  .
  redisstore
  connectv2
  grpcauth
  otelmetrics
)

scratch=$(mktemp -d)
cleanup() { chmod -R u+w "$scratch" 2>/dev/null || true; rm -rf "$scratch"; }
trap cleanup EXIT

# modproxy refuses a module with a replace directive or one that requires
# another published module at a version other than $version.
proxy="$scratch/proxy"
(cd tools/modproxy && GOWORK=off go run . -out "$proxy" -version "$version" "${modules[@]/#/$repo/}")

# A fresh module cache, so nothing published earlier is reused; everything
# else comes from the local cache's download directory (a file proxy too),
# then the public proxy.
goenv=(
  env GOWORK=off GOFLAGS=-mod=mod
  GOMODCACHE="$scratch/modcache"
  GOPROXY="file://$proxy,file://$(go env GOMODCACHE)/cache/download,https://proxy.golang.org"
  GONOSUMDB=github.com/connectjwt
)
# Nested modules are tidy when resolved as users and the proxy will: with the
# workspace off and the core from the test proxy. The core's own go.sum lines
# (and every nested module's) are left out of the comparison: their hashes are known once the tags exist (run
# `go mod tidy` in nested modules after tagging).
nested=(redisstore connectv2 grpcauth otelmetrics bench interop tools/modproxy tools/lint)
for dir in "${nested[@]}"; do
  [ -f "$dir/go.mod" ] || continue
  cp "$dir/go.mod" "$scratch/go.mod.orig"
  cp "$dir/go.sum" "$scratch/go.sum.orig" 2>/dev/null || : > "$scratch/go.sum.orig"
  status=0
  (cd "$dir" && "${goenv[@]}" go mod tidy) || status=$?
  if [ "$status" = 0 ]; then
    diff -u "$scratch/go.mod.orig" "$dir/go.mod" >&2 || status=1
    diff -u <(grep -v '^github.com/connectjwt/connectjwt[/ ]' "$scratch/go.sum.orig") \
      <(grep -v '^github.com/connectjwt/connectjwt[/ ]' "$dir/go.sum" 2>/dev/null) >&2 || status=1
  fi
  cp "$scratch/go.mod.orig" "$dir/go.mod"
  if [ -s "$scratch/go.sum.orig" ]; then cp "$scratch/go.sum.orig" "$dir/go.sum"; else rm -f "$dir/go.sum"; fi
  if [ "$status" != 0 ]; then
    echo "release check: $dir/go.mod or go.sum is not tidy (GOWORK=off, core from the test proxy)" >&2
    exit 1
  fi
done
echo "release check: nested modules are tidy: ${nested[*]}"

mkdir -p "$scratch/app/greetv1connect"
# The README's Quickstart block, unchanged, as the body of main; the prelude
# declares what the README leaves to the reader (the secret, the password
# check, the greeter) and the stand-in for the user's generated greet code.
cp testdata/readme/greetv1connect/greetv1connect.go "$scratch/app/greetv1connect/"
{
  cat .ci/release/quickstart-prelude.go.txt
  echo 'func main() {'
  awk '/^## Quickstart/{q=1} q&&/^```go/{b=1;next} b&&/^```/{exit} b{print}' README.md
  echo '}'
} >"$scratch/app/main.go"
if ! grep -q 'connectjwt.NewValidator' "$scratch/app/main.go"; then
  echo "release check: could not extract the Quickstart block from README.md" >&2
  exit 1
fi
cp .ci/release/redisstore.go.txt "$scratch/app/redisstore.go"
cd "$scratch/app"
"${goenv[@]}" go mod init example.com/app >/dev/null 2>&1
gets=()
for dir in "${modules[@]}"; do
  path=$(cd "$repo/$dir" && GOWORK=off go list -m)
  gets+=("$path@$version")
done
"${goenv[@]}" go get "${gets[@]}"
"${goenv[@]}" go mod tidy
"${goenv[@]}" go vet ./...
"${goenv[@]}" go build -o /dev/null .
echo "release check: built the quickstart and a redisstore use against ${gets[*]} from a file:// proxy"
