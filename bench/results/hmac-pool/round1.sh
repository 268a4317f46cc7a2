#!/usr/bin/env bash
# Interleaved A/B: each round runs every variant once, rotating the order.
set -euo pipefail
cd "$(dirname "$0")"
variants=(orig pool nopool pool2)
for r in $(seq 0 9); do
  for k in 0 1 2 3; do
    v=${variants[$(( (k + r) % 4 ))]}
    echo "variant: $v"
    ../$v.test -test.run '^$' -test.bench 'Refuse' -test.benchmem -test.count 1 -test.benchtime 200ms | grep '^Benchmark'
    ../$v.test -test.run '^$' -test.bench 'Validate/mode=serial/alg=(HS256|ES256)/impl=(connectjwt-nocache|golang-jwt-map)' -test.benchmem -test.count 1 -test.benchtime 200ms | grep '^Benchmark'
  done
done > raw.txt
