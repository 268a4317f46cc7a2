#!/usr/bin/env bash
# BenchmarkObserver in interleaved rounds, the method of bench/run.sh and
# bench/ab.sh: each round runs every hook variant once, each in its own
# process (-count 1), starting at a different variant each round; "off" runs
# twice per round, the second time labelled hook=off-control, an A/A control
# whose ratio to "off" is what the method reads when there is no difference.
#
#   ROUNDS=15 bench/results/observer/run.sh
#
# Writes bench.txt and benchstat.txt next to this script.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
rounds=${ROUNDS:-15}
benchtime=${BENCHTIME:-500ms}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/bench.test" .
hooks=(off nop slog-discard otel-manual-reader off)
labels=(off nop slog-discard otel-manual-reader off-control)
n=${#hooks[@]}
for r in $(seq 0 $((rounds - 1))); do
	echo "round $((r + 1)) of $rounds" >&2
	for k in $(seq 0 $((n - 1))); do
		# Round 0 runs in the listed order so benchstat keeps "off" as the baseline.
		i=$(((k + r) % n))
		"$tmp/bench.test" -test.run '^$' -test.bench "^BenchmarkObserver\$/^hook=${hooks[$i]}\$" \
			-test.benchmem -test.count 1 -test.benchtime "$benchtime" |
			sed -n "/^Benchmark/s/hook=${hooks[$i]}-/hook=${labels[$i]}-/p"
	done
done >"$here/bench.txt"
go tool benchstat -col /hook "$here/bench.txt" >"$here/benchstat.txt"
echo "wrote $here/bench.txt, $here/benchstat.txt" >&2
