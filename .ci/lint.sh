#!/usr/bin/env bash
# golangci-lint v2 (pinned in tools/lint/go.mod, not a global install) with
# .golangci.yml on every module of the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd tools/lint && GOWORK=off go build -o "$bin/golangci-lint" github.com/golangci/golangci-lint/v2/cmd/golangci-lint)
status=0
for mod in $(git ls-files '*go.mod' ':!:**/testdata/**' | xargs -n1 dirname | sort); do
  if [ -z "$(git ls-files "$mod/*.go" | head -1)" ]; then
    echo "golangci-lint: $mod has no Go files (a tool pin), skipped"
    continue
  fi
  echo "golangci-lint: $mod"
  gowork=off # modules outside go.work (tools/*) build on their own
  if go work edit -json | grep -q "\"DiskPath\": \"\\(./\\)\\?$mod\""; then gowork=; fi
  (cd "$mod" && GOWORK=$gowork "$bin/golangci-lint" run --config "$OLDPWD/.golangci.yml" --max-issues-per-linter 0 --max-same-issues 0 ./...) || status=1
done
exit "$status"
