// Command chart draws the benchmark results of ../ (go test -bench output)
// as an SVG of grouped bar charts: median time per operation for each
// algorithm and implementation. It uses only the standard library.
//
//	go run ./chart -in results/bench.txt -out results/chart.svg
package main

import (
	"bufio"
	"flag"
	"fmt"
	"html"
	"io"
	"log"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

func main() {
	in := flag.String("in", "results/bench.txt", "go test -bench output")
	out := flag.String("out", "results/chart.svg", "SVG to write")
	flag.Parse()
	f, err := os.Open(*in)
	if err != nil {
		log.Fatal(err)
	}
	samples, err := parse(f)
	_ = f.Close() // read-only: nothing to report
	if err != nil {
		log.Fatal(err)
	}
	svg := render(samples)
	if err := os.WriteFile(*out, []byte(svg), 0o644); err != nil { //nolint:gosec // a chart for the repository, readable by all
		log.Fatal(err)
	}
}

// parse returns the ns/op samples of every benchmark, keyed by name
// without the GOMAXPROCS suffix.
func parse(r io.Reader) (map[string][]float64, error) {
	suffix := regexp.MustCompile(`-\d+$`)
	samples := map[string][]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		for i := 2; i+1 < len(fields); i += 2 {
			if fields[i+1] != "ns/op" {
				continue
			}
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", sc.Text(), err)
			}
			name := suffix.ReplaceAllString(fields[0], "")
			samples[name] = append(samples[name], v)
		}
	}
	return samples, sc.Err()
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// panel is one chart: for each group (an algorithm), one bar per series
// (an implementation).
type panel struct {
	title  string
	prefix string // benchmark name up to "/alg="
	log    bool   // logarithmic axis
}

var (
	algs = []string{"HS256", "RS256", "ES256", "EdDSA"}
	// order is the order of the series; each keeps its color in every panel.
	order  = []string{"none", "golang-jwt-map", "golang-jwt-registered", "connectjwt-nocache", "connectjwt-cache", "handwritten", "auth0"}
	colors = []string{"#9c9c9c", "#4e79a7", "#76b7b2", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#edc948"}
)

func color(series string) string {
	i := slices.Index(order, series)
	if i < 0 {
		i = len(colors) - 1
	}
	return colors[i]
}

func render(samples map[string][]float64) string {
	panels := []panel{
		{"Validation alone: median time per token (log scale)", "BenchmarkValidate/mode=serial", true},
		{"Server side of a unary call, in process (no network)", "BenchmarkHandler", false},
		{"Unary round trip over loopback HTTP/2, serial", "BenchmarkUnary/mode=serial", false},
		{"Server-stream round trip (3 messages), serial", "BenchmarkServerStream/mode=serial", false},
		{"Unary round trip, RunParallel", "BenchmarkUnary/mode=parallel", false},
	}
	const width, panelHeight = 900, 330
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n",
		width, panelHeight*len(panels)+20)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	for i, p := range panels {
		drawPanel(&b, p, samples, 0, i*panelHeight+10, width, panelHeight-20)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func drawPanel(b *strings.Builder, p panel, samples map[string][]float64, x0, y0, w, h int) {
	// Series in order of first appearance in the results.
	var series []string
	values := map[[2]string]float64{}
	names := make([]string, 0, len(samples))
	for name := range samples {
		names = append(names, name)
	}
	sort.Strings(names)
	re := regexp.MustCompile("^" + regexp.QuoteMeta(p.prefix) + `/alg=([^/]+)/impl=(.+)$`)
	for _, name := range names {
		m := re.FindStringSubmatch(name)
		if m == nil || m[2] == "none-control" { // the A/A control would draw none twice
			continue
		}
		if !slices.Contains(series, m[2]) {
			series = append(series, m[2])
		}
		values[[2]string{m[1], m[2]}] = median(samples[name])
	}
	series = orderSeries(series)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", x0+10, y0+14, html.EscapeString(p.title))
	if len(series) == 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d">no results</text>`+"\n", x0+10, y0+40)
		return
	}
	maxV, minV := 0.0, math.Inf(1)
	for _, v := range values {
		maxV = max(maxV, v)
		minV = min(minV, v)
	}
	left, right, top, bottom := x0+60, x0+w-170, y0+30, y0+h-30
	scale := func(v float64) float64 { // 0..1
		if p.log {
			lo := math.Pow(10, math.Floor(math.Log10(minV))-1)
			hi := math.Pow(10, math.Ceil(math.Log10(maxV)))
			return (math.Log10(v) - math.Log10(lo)) / (math.Log10(hi) - math.Log10(lo))
		}
		return v / (maxV * 1.1)
	}
	// Axis and grid.
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", left, bottom, right, bottom)
	for _, t := range ticks(minV, maxV*1.1, p.log) {
		y := float64(bottom) - scale(t)*float64(bottom-top)
		if y < float64(top)-1 {
			continue
		}
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, right, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-4, y+4, duration(t))
	}
	groupW := float64(right-left) / float64(len(algs))
	barW := groupW * 0.8 / float64(len(series))
	for gi, alg := range algs {
		gx := float64(left) + float64(gi)*groupW + groupW*0.1
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", gx+groupW*0.4, bottom+16, alg)
		for si, s := range series {
			v, ok := values[[2]string{alg, s}]
			if !ok {
				continue
			}
			bh := scale(v) * float64(bottom-top)
			x := gx + float64(si)*barW
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
				x, float64(bottom)-bh, barW-1, bh, color(s), alg, html.EscapeString(s), duration(v))
		}
	}
	for si, s := range series {
		y := top + 10 + si*18
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", right+15, y-10, color(s))
		fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", right+32, y, html.EscapeString(s))
	}
}

// orderSeries puts the baselines first, as in BENCHMARKS.md.
func orderSeries(s []string) []string {
	rank := func(x string) int {
		if i := slices.Index(order, x); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(s, func(a, b string) int { return rank(a) - rank(b) })
	return s
}

func ticks(lo, hi float64, logScale bool) []float64 {
	var out []float64
	if logScale {
		for e := math.Floor(math.Log10(lo)) - 1; e <= math.Ceil(math.Log10(hi)); e++ {
			out = append(out, math.Pow(10, e))
		}
		return out
	}
	step := math.Pow(10, math.Floor(math.Log10(hi/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		if hi/(step*m) <= 6 {
			step *= m
			break
		}
	}
	for t := 0.0; t <= hi; t += step {
		out = append(out, t)
	}
	return out
}

func duration(ns float64) string {
	switch {
	case ns == 0:
		return "0"
	case ns < 1e3:
		return fmt.Sprintf("%.0fns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.4gµs", ns/1e3)
	default:
		return fmt.Sprintf("%.4gms", ns/1e6)
	}
}
