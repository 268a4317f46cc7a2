// Package bench holds connectjwt's benchmarks (see BENCHMARKS.md at the
// repository root). It is a separate module so that the libraries it
// compares against (auth0/go-jwt-middleware) and benchstat never enter the
// library's go.mod.
//
// Run from this directory:
//
//	go test -run '^$' -bench . -benchmem -count 8 -benchtime 500ms . | tee results/bench.txt
//	for b in Validate Handler Unary ServerStream; do
//		go tool benchstat -col /impl -filter ".name:$b" results/bench.txt
//	done
//	go run ./chart -in results/bench.txt -out results/chart.svg
package bench
