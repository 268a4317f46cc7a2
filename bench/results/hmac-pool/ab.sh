#!/usr/bin/env bash
# Interleaved A/B: ROUNDS rounds; in each, every variant's test binary
# (../<variant>.test) runs each benchmark pattern given as an argument once,
# the variants' order rotated by one each round. Output: benchstat input,
# each run headed by a "variant: <name>" line (benchstat -col variant).
set -euo pipefail
cd "$(dirname "$0")"
read -r -a variants <<<"${VARIANTS:-pool nopool pool2}"
n=${#variants[@]}
for r in $(seq 0 $((${ROUNDS:-20} - 1))); do
	for k in $(seq 0 $((n - 1))); do
		v=${variants[$(((k + r) % n))]}
		echo "variant: $v"
		for bench in "$@"; do
			"../$v.test" -test.run '^$' -test.bench "$bench" -test.benchmem \
				-test.count 1 -test.benchtime "${BENCHTIME:-300ms}" | grep '^Benchmark'
		done
	done
done
