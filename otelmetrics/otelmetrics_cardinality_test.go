package otelmetrics_test

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/connectjwt/connectjwt"
)

// TestProcedureNamesBounded: paths shaped like procedure names (which the
// net/http middleware reports as a client sends them) stop becoming
// attribute values after a bound, and every decision is still counted.
func TestProcedureNamesBounded(t *testing.T) {
	o, reader := newObserver(t)
	const n = 3000
	for i := range n {
		o.ObserveDecision(context.Background(), connectjwt.Decision{
			Procedure: fmt.Sprintf("/attacker.v1.S/M%d", i), Outcome: connectjwt.OutcomeRefused,
			Reason: connectjwt.ReasonOf(connectjwt.ErrMissing)})
	}
	sum, ok := collect(t, reader)["connectjwt.decisions"].(metricdata.Sum[int64])
	if !ok {
		t.Fatal("no connectjwt.decisions sum")
	}
	var total int64
	named := 0
	for _, dp := range sum.DataPoints {
		total += dp.Value
		if _, ok := dp.Attributes.Value("rpc.method"); ok {
			named++
		}
	}
	if total != n {
		t.Errorf("decisions counted = %d, want %d", total, n)
	}
	if named == 0 || named > 1000 {
		t.Errorf("%d series carry rpc.method, want between 1 and 1000", named)
	}
	if len(sum.DataPoints) > named+1 {
		t.Errorf("%d series for %d named ones, want the rest in one", len(sum.DataPoints), named)
	}
}
