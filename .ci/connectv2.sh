#!/usr/bin/env bash
# connectv2 module (connect-go v2 front end): vet and race tests, built
# against this checkout's core through a workspace (.ci/workspace.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/workspace.sh
use_workspace connectv2
cd connectv2
go vet ./...
go test -race -count=1 ./...
