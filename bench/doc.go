// Package bench holds connectjwt's benchmarks (see BENCHMARKS.md at the
// repository root). It is a separate module so that the libraries it
// compares against (auth0/go-jwt-middleware) and benchstat never enter the
// library's go.mod.
//
// Run from the repository root:
//
//	bench/run.sh
//
// It runs every benchmark once per round, in ROUNDS (default 10) interleaved
// rounds, and writes results/bench.txt, the benchstat tables in
// results/benchstat.txt and the chart in results/chart.svg.
package bench
