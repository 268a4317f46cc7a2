#!/usr/bin/env bash
# A/B of two versions of the core on the same benchmarks: this bench module
# built against the working tree (new) and against commit OLD (old), run in
# interleaved rounds like run.sh, each round running old, an A/A control
# (old again, as its own process) and new, starting at a different one each
# round. The control's ratio to old is what the method reads when there is
# no difference at all.
#
#   OLD=main ROUNDS=20 BENCH='ServerStream|BidiStream/mode=/alg=HS256' bench/ab.sh
#
# Writes $OUT/bench.txt (impl=old, old-control, new) and $OUT/benchstat.txt.
#
# new builds in the repository's workspace (go.work at the root); old builds
# this bench module in a workspace of its own, with the core of commit OLD.
# The bench code is the working tree's, so OLD must have the API it uses
# (NewValidator, NewInterceptor(v), StreamDeadlines, ...): commits before the
# issue 14 reshape need the bench code of their own time.
set -euo pipefail
cd "$(dirname "$0")"
old=${OLD:?OLD=<commit> to compare against}
rounds=${ROUNDS:-20}
benchtime=${BENCHTIME:-500ms}
filter=${BENCH:?BENCH=<benchmark regexp>}
impl=${IMPL:-connectjwt-cache}
out=${OUT:-results/ab}
args=${ARGS:-} # more flags for the benchmark binaries, e.g. -compressminbytes 1024
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C .. archive "$old" | tar -x -C "$tmp" --one-top-level=core
cp -r . "$tmp/bench"
rm -rf "$tmp/bench/results"
rm -f "$tmp/core/go.work" "$tmp/core/go.work.sum"
# The bench module requires the core's release version; the workspace
# points it at the old tree, as the root go.work does for the new one.
(cd "$tmp" && go work init ./core ./bench &&
	go work edit -replace "github.com/connectjwt/connectjwt@$(sed -n 's|^\tgithub.com/connectjwt/connectjwt \(v[^ ]*\)$|\1|p' bench/go.mod)=./core")
(cd "$tmp/bench" && GOWORK="$tmp/go.work" go test -c -o "$tmp/old.test" .)
go test -c -o "$tmp/new.test" .
labels=(old old-control new)
bins=(old old new)
for r in $(seq 0 $((rounds - 1))); do
	echo "round $((r + 1)) of $rounds" >&2
	for k in 0 1 2; do
		i=$(((k + r) % 3))
		"$tmp/${bins[$i]}.test" -test.run '^$' -test.bench "$filter" -test.benchmem \
			-test.count 1 -test.benchtime "$benchtime" -impls "$impl" $args |
			sed -n "/^Benchmark/s/impl=$impl/impl=${labels[$i]}/p"
	done
done >"$out/bench.txt"
go tool benchstat -col /impl "$out/bench.txt" >"$out/benchstat.txt"
echo "wrote $out/bench.txt, $out/benchstat.txt" >&2
