#!/usr/bin/env bash
# Interleaved A/B/A of the HMAC pool: 15 rounds, order rotated each round.
set -euo pipefail
cd "$(dirname "$0")"
variants=(pool nopool pool2)
for r in $(seq 0 14); do
  for k in 0 1 2; do
    v=${variants[$(( (k + r) % 3 ))]}
    echo "variant: $v"
    ../$v.test -test.run '^$' -test.bench 'Refuse/alg=HS256/impl=connectjwt-roundtrip' -test.benchmem -test.count 1 -test.benchtime 300ms | grep '^Benchmark'
  done
done > raw3.txt
