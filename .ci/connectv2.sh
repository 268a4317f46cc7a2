#!/usr/bin/env bash
# connectv2 module (connect-go v2 front end): vet and race tests, through the
# repository's go.work.
set -euo pipefail
cd "$(dirname "$0")/../connectv2"
go vet ./...
go test -race -count=1 ./...
