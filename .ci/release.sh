#!/usr/bin/env bash
# Release readiness (issue 14); needs `npm ci` of tools/, ts/ and example/web
# (.ci/run does both first). Modules resolve from a proxy, the example's
# committed browser bundle is fresh, outside clients (grpcurl, buf curl) work
# against the example, and golangci-lint passes on every module.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s\n' "$*"; }

step "release check: modules from a file:// GOPROXY, quickstart built in a scratch module"
.ci/release-check.sh

step "the committed browser bundle (example/web/dist, embedded in the example) is fresh"
npm run build --prefix example/web
if ! git diff --exit-code -- example/web/dist || [ -n "$(git status --porcelain -- example/web/dist)" ]; then
  echo "example/web/dist is stale: run 'npm ci --prefix example/web && npm run build --prefix example/web' and commit" >&2
  git status --porcelain -- example/web/dist >&2
  exit 1
fi

step "npm package: generated code from protos that use the policy options resolves them from @connectjwt/connectjwt"
.ci/ts-exports.sh

step "outside clients against the example: grpcurl and buf curl"
.ci/example-clients.sh

step "golangci-lint v2 on every module"
.ci/lint.sh
