# Sourced by the nested modules' CI scripts: use_workspace MODULE... makes the
# go commands that follow build those modules against this checkout's core.
# With a repository go.work that lists them all, it is used as is; otherwise
# a temporary one (removed on exit) uses the core and the modules, with the
# same replace a development go.work has.
use_workspace() {
  local repo mod work=
  repo=$(pwd)
  for mod in "$@"; do
    if ! [ -f go.work ] || ! go work edit -json | grep -q "\"DiskPath\": \"\\(./\\)\\?$mod\""; then
      work=$(mktemp -d)/go.work
      break
    fi
  done
  [ -n "$work" ] || return 0
  trap 'rm -rf "$(dirname "'"$work"'")"' EXIT
  {
    echo "go 1.26.0"
    echo "use ("
    echo "	$repo"
    for mod in "$@"; do echo "	$repo/$mod"; done
    echo ")"
    echo "replace github.com/connectjwt/connectjwt v0.1.0 => $repo"
  } >"$work"
  export GOWORK="$work"
}
