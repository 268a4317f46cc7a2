#!/usr/bin/env bash
# Release readiness (issue 14): modules resolve from a proxy, the example's
# committed browser bundle is fresh, outside clients (grpcurl, buf curl) work
# against the example, and golangci-lint passes on every module.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s\n' "$*"; }

step "release check: modules from a file:// GOPROXY, quickstart built in a scratch module"
.ci/release-check.sh

step "outside clients against the example: grpcurl and buf curl"
.ci/example-clients.sh

step "golangci-lint v2 on every module"
.ci/lint.sh
