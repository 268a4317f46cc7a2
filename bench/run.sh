#!/usr/bin/env bash
# Runs the benchmarks the way BENCHMARKS.md reports them: in interleaved
# rounds, each round one process that runs every benchmark once, so that
# load that comes and goes on the machine falls on every implementation
# alike instead of on whichever ran during it. Then the benchstat tables and
# the chart.
#
#   bench/run.sh                 # 8 rounds of everything, about 12 minutes
#   ROUNDS=4 BENCH='ServerStream' bench/run.sh
#
# Writes results/bench.txt, results/benchstat.txt and results/chart.svg
# (OUT=dir to write elsewhere).
set -euo pipefail
cd "$(dirname "$0")"
rounds=${ROUNDS:-8}
benchtime=${BENCHTIME:-500ms}
filter=${BENCH:-.}
out=${OUT:-results}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/bench.test" .
for r in $(seq "$rounds"); do
	echo "round $r of $rounds" >&2
	"$tmp/bench.test" -test.run '^$' -test.bench "$filter" -test.benchmem \
		-test.count 1 -test.benchtime "$benchtime"
done | grep -v '^PASS$' >"$out/bench.txt"
for b in Validate Handler Unary ServerStream; do
	if grep -q "^Benchmark$b/" "$out/bench.txt"; then
		go tool benchstat -col /impl -filter ".name:$b" "$out/bench.txt"
	fi
done >"$out/benchstat.txt"
go run ./chart -in "$out/bench.txt" -out "$out/chart.svg"
echo "wrote $out/bench.txt, $out/benchstat.txt, $out/chart.svg" >&2
