#!/usr/bin/env bash
# otelmetrics and grpcauth modules: tidy, vet and go test -race. They build
# against this checkout's core through a workspace: the repository's go.work
# when it lists them, otherwise a temporary one with the same replace.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
modules=(otelmetrics grpcauth)

work=
for mod in "${modules[@]}"; do
  if ! [ -f go.work ] || ! go work edit -json | grep -q "\"DiskPath\": \"\\(./\\)\\?$mod\""; then
    work=$(mktemp -d)/go.work
    break
  fi
done
if [ -n "$work" ]; then
  trap 'rm -rf "$(dirname "$work")"' EXIT
  {
    echo "go 1.26.0"
    echo "use ("
    echo "	$repo"
    for mod in "${modules[@]}"; do echo "	$repo/$mod"; done
    echo ")"
    echo "replace github.com/connectjwt/connectjwt v0.1.0 => $repo"
  } >"$work"
  export GOWORK="$work"
fi

for mod in "${modules[@]}"; do
  echo "== $mod: vet, test -race"
  (cd "$mod" && go vet ./... && go test -race -count=1 ./...)
done
