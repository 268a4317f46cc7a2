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
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		for i := 2; i+1 < len(fields); i += 2 {
			if fields[i+1] != "ns/op" {
				continue
			}
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", scanner.Text(), err)
			}
			name := suffix.ReplaceAllString(fields[0], "")
			samples[name] = append(samples[name], v)
		}
	}
	return samples, scanner.Err()
}

func median(xs []float64) float64 {
	sorted := slices.Clone(xs)
	sort.Float64s(sorted)
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// panel is one chart: for each group (an algorithm), one bar per series
// (an implementation).
type panel struct {
	title  string
	prefix string // benchmark name up to "/alg="
	log    bool   // logarithmic axis
}

// algs are the groups of every panel, in order.
func algs() []string { return []string{"HS256", "RS256", "ES256", "EdDSA"} }

// seriesOrder is the order of the series; each keeps its color in every
// panel.
func seriesOrder() []string {
	return []string{"none", "golang-jwt-map", "golang-jwt-registered", "connectjwt-nocache", "connectjwt-cache", "handwritten", "auth0"}
}

// color is the color of series: one per series of seriesOrder, then one for
// all others.
func color(series string) string {
	colors := []string{"#9c9c9c", "#4e79a7", "#76b7b2", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#edc948"}
	i := slices.Index(seriesOrder(), series)
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
	var svg strings.Builder
	fmt.Fprintf(&svg, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n",
		width, panelHeight*len(panels)+20)
	fmt.Fprintf(&svg, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	for i, p := range panels {
		drawPanel(&svg, p, samples, 0, i*panelHeight+10, width, panelHeight-20)
	}
	svg.WriteString("</svg>\n")
	return svg.String()
}

func drawPanel(svg *strings.Builder, spec panel, samples map[string][]float64, originX, originY, width, height int) {
	// Series in order of first appearance in the results.
	var series []string
	values := map[[2]string]float64{}
	names := make([]string, 0, len(samples))
	for name := range samples {
		names = append(names, name)
	}
	sort.Strings(names)
	re := regexp.MustCompile("^" + regexp.QuoteMeta(spec.prefix) + `/alg=([^/]+)/impl=(.+)$`)
	for _, name := range names {
		match := re.FindStringSubmatch(name)
		if match == nil || match[2] == "none-control" { // the A/A control would draw none twice
			continue
		}
		if !slices.Contains(series, match[2]) {
			series = append(series, match[2])
		}
		values[[2]string{match[1], match[2]}] = median(samples[name])
	}
	series = orderSeries(series)
	fmt.Fprintf(svg, `<text x="%d" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", originX+10, originY+14, html.EscapeString(spec.title))
	if len(series) == 0 {
		fmt.Fprintf(svg, `<text x="%d" y="%d">no results</text>`+"\n", originX+10, originY+40)
		return
	}
	maxV, minV := 0.0, math.Inf(1)
	for _, v := range values {
		maxV = max(maxV, v)
		minV = min(minV, v)
	}
	left, right, top, bottom := originX+60, originX+width-170, originY+30, originY+height-30
	scale := func(value float64) float64 { // 0..1
		if spec.log {
			lo := math.Pow(10, math.Floor(math.Log10(minV))-1)
			hi := math.Pow(10, math.Ceil(math.Log10(maxV)))
			return (math.Log10(value) - math.Log10(lo)) / (math.Log10(hi) - math.Log10(lo))
		}
		return value / (maxV * 1.1)
	}
	// Axis and grid.
	fmt.Fprintf(svg, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", left, bottom, right, bottom)
	for _, tick := range ticks(minV, maxV*1.1, spec.log) {
		y := float64(bottom) - scale(tick)*float64(bottom-top)
		if y < float64(top)-1 {
			continue
		}
		fmt.Fprintf(svg, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, right, y)
		fmt.Fprintf(svg, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-4, y+4, duration(tick))
	}
	groups := algs()
	groupW := float64(right-left) / float64(len(groups))
	barW := groupW * 0.8 / float64(len(series))
	for group, alg := range groups {
		groupX := float64(left) + float64(group)*groupW + groupW*0.1
		fmt.Fprintf(svg, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", groupX+groupW*0.4, bottom+16, alg)
		for bar, name := range series {
			value, ok := values[[2]string{alg, name}]
			if !ok {
				continue
			}
			bh := scale(value) * float64(bottom-top)
			x := groupX + float64(bar)*barW
			fmt.Fprintf(svg, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
				x, float64(bottom)-bh, barW-1, bh, color(name), alg, html.EscapeString(name), duration(value))
		}
	}
	for row, name := range series {
		y := top + 10 + row*18
		fmt.Fprintf(svg, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", right+15, y-10, color(name))
		fmt.Fprintf(svg, `<text x="%d" y="%d">%s</text>`+"\n", right+32, y, html.EscapeString(name))
	}
}

// orderSeries puts the baselines first, as in BENCHMARKS.md.
func orderSeries(series []string) []string {
	order := seriesOrder()
	rank := func(x string) int {
		if i := slices.Index(order, x); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(series, func(a, b string) int { return rank(a) - rank(b) })
	return series
}

func ticks(low, high float64, logScale bool) []float64 {
	var out []float64
	if logScale {
		for e := math.Floor(math.Log10(low)) - 1; e <= math.Ceil(math.Log10(high)); e++ {
			out = append(out, math.Pow(10, e))
		}
		return out
	}
	step := math.Pow(10, math.Floor(math.Log10(high/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		if high/(step*m) <= 6 {
			step *= m
			break
		}
	}
	for t := 0.0; t <= high; t += step {
		out = append(out, t)
	}
	return out
}

func duration(nanos float64) string {
	switch {
	case nanos == 0:
		return "0"
	case nanos < 1e3:
		return fmt.Sprintf("%.0fns", nanos)
	case nanos < 1e6:
		return fmt.Sprintf("%.4gµs", nanos/1e3)
	default:
		return fmt.Sprintf("%.4gms", nanos/1e6)
	}
}
