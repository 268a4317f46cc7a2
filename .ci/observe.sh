#!/usr/bin/env bash
# otelmetrics and grpcauth modules: vet and go test -race, built against this
# checkout's core through a workspace (.ci/workspace.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/workspace.sh
modules=(otelmetrics grpcauth)
use_workspace "${modules[@]}"

for mod in "${modules[@]}"; do
  echo "== $mod: vet, test -race"
  (cd "$mod" && go vet ./... && go test -race -count=1 ./...)
done
