#!/usr/bin/env bash
# The TypeScript suite against the connect-go v2 example (./connectv2/example),
# unchanged: the same tests .ci/run runs against ./example. Needs
# `npm ci --prefix ts` first (.ci/run's TypeScript step does it).
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/workspace.sh
use_workspace connectv2
# (No trap here: use_workspace may have set one for its own files.)
bin=$(mktemp -d)
status=0
go build -o "$bin/example-v2" ./connectv2/example || status=$?
if [ "$status" = 0 ]; then
  CONNECTJWT_EXAMPLE_BIN="$bin/example-v2" npm test --prefix ts || status=$?
fi
rm -rf "$bin"
exit "$status"
