#!/usr/bin/env bash
# Runs the benchmarks the way BENCHMARKS.md reports them: in interleaved
# rounds, each round one process that runs every benchmark once, so that
# load that comes and goes on the machine falls on every implementation
# alike instead of on whichever ran during it; and round r starts the
# implementations at the r-th (-rotate), so that none always runs right
# after the same neighbour. Then the benchstat tables and the chart.
#
#   bench/run.sh                 # 10 rounds of everything, about 14 minutes
#   ROUNDS=20 BENCH='Unary|ServerStream' IMPLS=none,connectjwt-cache bench/run.sh
#
# Writes results/bench.txt, results/benchstat.txt and results/chart.svg
# (OUT=dir to write elsewhere).
set -euo pipefail
cd "$(dirname "$0")"
rounds=${ROUNDS:-10}
benchtime=${BENCHTIME:-500ms}
filter=${BENCH:-.}
impls=${IMPLS:-}
out=${OUT:-results}
args=${ARGS:-} # more flags for the benchmark binary, e.g. -compressminbytes 1024
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/bench.test" .
# Round 0 runs in the listed order, so benchstat (which orders its columns
# by first appearance) keeps the first implementation as the baseline.
for r in $(seq 0 $((rounds - 1))); do
	echo "round $((r + 1)) of $rounds" >&2
	"$tmp/bench.test" -test.run '^$' -test.bench "$filter" -test.benchmem \
		-test.count 1 -test.benchtime "$benchtime" -rotate "$r" -impls "$impls" $args
done | sed '/^PASS$/d' >"$out/bench.txt"
if ! grep -q '^Benchmark' "$out/bench.txt"; then
	echo "no benchmark matched BENCH=$filter (one regexp per /-separated level)" >&2
	exit 1
fi
for b in Validate Handler StreamHandler OpenStreams Unary ServerStream BidiStream; do
	if grep -q "^Benchmark$b/" "$out/bench.txt"; then
		go tool benchstat -col /impl -filter ".name:$b" "$out/bench.txt"
	fi
done >"$out/benchstat.txt"
go run ./chart -in "$out/bench.txt" -out "$out/chart.svg"
echo "wrote $out/bench.txt, $out/benchstat.txt, $out/chart.svg" >&2
