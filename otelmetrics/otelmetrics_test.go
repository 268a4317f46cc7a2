package otelmetrics_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/otelmetrics"
)

func newObserver(t *testing.T) (connectjwt.Observer, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	o, err := otelmetrics.NewObserver(otelmetrics.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	if err != nil {
		t.Fatal(err)
	}
	return o, reader
}

func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelmetrics.ScopeName {
			t.Errorf("scope = %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

// attrs renders an attribute set as key=value pairs for comparison.
func attrs(s attribute.Set) map[string]string {
	out := map[string]string{}
	for _, kv := range s.ToSlice() {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// sumOf returns the value of the counter's data point with exactly these
// attributes, and whether there is one.
func sumOf(t *testing.T, data metricdata.Aggregation, want map[string]string) (int64, bool) {
	t.Helper()
	sum, ok := data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("data = %T, want a Sum[int64]", data)
	}
	for _, dp := range sum.DataPoints {
		if equal(attrs(dp.Attributes), want) {
			return dp.Value, true
		}
	}
	return 0, false
}

// histogramOf returns the count and sum of the histogram's data point with
// exactly these attributes.
func histogramOf(t *testing.T, data metricdata.Aggregation, want map[string]string) (uint64, float64) {
	t.Helper()
	h, ok := data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("data = %T, want a Histogram[float64]", data)
	}
	for _, dp := range h.DataPoints {
		if equal(attrs(dp.Attributes), want) {
			return dp.Count, dp.Sum
		}
	}
	return 0, 0
}

func TestDecisions(t *testing.T) {
	o, reader := newObserver(t)
	ctx := context.Background()
	expired := connectjwt.ReasonOf(connectjwt.ErrExpired)
	missing := connectjwt.ReasonOf(connectjwt.ErrMissing)
	decisions := []connectjwt.Decision{
		{Procedure: "/example.v1.ProtectedService/Protected", Outcome: connectjwt.OutcomeAllowed, Cache: connectjwt.CacheHit, Duration: 2 * time.Millisecond},
		{Procedure: "/example.v1.ProtectedService/Protected", Outcome: connectjwt.OutcomeAllowed, Cache: connectjwt.CacheMiss, Duration: 4 * time.Millisecond},
		{Procedure: "/example.v1.ProtectedService/Protected", Outcome: connectjwt.OutcomeRefused, Reason: expired, Cache: connectjwt.CacheHit, Duration: time.Millisecond},
		{Procedure: "/example.v1.ProtectedService/Protected", Outcome: connectjwt.OutcomeRefused, Reason: expired, Duration: time.Millisecond},
		{Procedure: "/example.v1.ProtectedService/Protected", Outcome: connectjwt.OutcomeRefused, Reason: missing},
		{Procedure: "/connectjwt.v1.AuthService/Login", Outcome: connectjwt.OutcomeAnonymous},
		{Procedure: "/files/report-2026.pdf", Outcome: connectjwt.OutcomeRefused, Reason: missing}, // a net/http path
	}
	for _, d := range decisions {
		o.ObserveDecision(ctx, d)
	}
	got := collect(t, reader)

	rpc := map[string]string{"rpc.service": "example.v1.ProtectedService", "rpc.method": "Protected"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		maps.Copy(out, m)
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	for _, tt := range []struct {
		attrs map[string]string
		want  int64
	}{
		{with(rpc, "connectjwt.outcome", "allowed"), 2},
		{with(rpc, "connectjwt.outcome", "refused", "connectjwt.reason", "REASON_EXPIRED"), 2},
		{with(rpc, "connectjwt.outcome", "refused", "connectjwt.reason", "REASON_MISSING"), 1},
		{map[string]string{"rpc.service": "connectjwt.v1.AuthService", "rpc.method": "Login", "connectjwt.outcome": "anonymous"}, 1},
		{map[string]string{"connectjwt.outcome": "refused", "connectjwt.reason": "REASON_MISSING"}, 1},
	} {
		if n, ok := sumOf(t, got["connectjwt.decisions"], tt.attrs); !ok || n != tt.want {
			t.Errorf("connectjwt.decisions%v = %d (found %v), want %d", tt.attrs, n, ok, tt.want)
		}
	}
	if count, sum := histogramOf(t, got["connectjwt.validation.duration"], with(rpc, "connectjwt.outcome", "allowed")); count != 2 || sum < 0.0059 || sum > 0.0061 {
		t.Errorf("validation.duration{allowed} = %d, %v s; want 2, 0.006 s", count, sum)
	}
	if count, _ := histogramOf(t, got["connectjwt.validation.duration"], with(rpc, "connectjwt.outcome", "refused")); count != 3 {
		t.Errorf("validation.duration{refused} count = %d, want 3 (no reason attribute)", count)
	}
	for result, want := range map[string]int64{"hit": 2, "miss": 1} {
		if n, _ := sumOf(t, got["connectjwt.cache.lookups"], map[string]string{"connectjwt.cache.result": result}); n != want {
			t.Errorf("cache.lookups{%s} = %d, want %d", result, n, want)
		}
	}
}

func TestEvents(t *testing.T) {
	o, reader := newObserver(t)
	ctx := context.Background()
	const idp = "https://idp.test"
	for _, e := range []connectjwt.Event{
		{Kind: connectjwt.EventJWKSFetch, Issuer: idp, Keys: 2, KeysSkipped: 3, Duration: 100 * time.Millisecond},
		{Kind: connectjwt.EventJWKSFetch, Issuer: idp, Err: errors.New("connection refused"), Duration: time.Second},
		{Kind: connectjwt.EventJWKSRateLimited, Issuer: idp},
		{Kind: connectjwt.EventRevocationCheck, Duration: time.Millisecond},
		{Kind: connectjwt.EventRevocationCheck, Revoked: true, Duration: time.Millisecond},
		{Kind: connectjwt.EventRevocationCheck, Err: errors.New("redis down"), Duration: time.Millisecond},
		{Kind: connectjwt.EventRevocationCheck, Err: errors.New("redis down"), Duration: time.Millisecond},
		{Kind: connectjwt.EventStreamEnd, Procedure: "/example.v1.ProtectedService/Chat", Reason: connectjwt.ReasonOf(connectjwt.ErrExpired)},
	} {
		o.ObserveEvent(ctx, e)
	}
	got := collect(t, reader)
	for result, want := range map[string]int64{"ok": 1, "error": 1, "rate_limited": 1} {
		if n, _ := sumOf(t, got["connectjwt.jwks.fetches"], map[string]string{"connectjwt.issuer": idp, "connectjwt.jwks.result": result}); n != want {
			t.Errorf("jwks.fetches{%s} = %d, want %d", result, n, want)
		}
	}
	if count, sum := histogramOf(t, got["connectjwt.jwks.fetch.duration"], map[string]string{"connectjwt.issuer": idp, "connectjwt.jwks.result": "error"}); count != 1 || sum != 1 {
		t.Errorf("jwks.fetch.duration{error} = %d, %v", count, sum)
	}
	if n, _ := sumOf(t, got["connectjwt.jwks.keys_skipped"], map[string]string{"connectjwt.issuer": idp}); n != 3 {
		t.Errorf("jwks.keys_skipped = %d, want 3", n)
	}
	for result, want := range map[string]uint64{"not_revoked": 1, "revoked": 1, "error": 2} {
		if count, _ := histogramOf(t, got["connectjwt.revocation.duration"], map[string]string{"connectjwt.revocation.result": result}); count != want {
			t.Errorf("revocation.duration{%s} count = %d, want %d", result, count, want)
		}
	}
	if n, _ := sumOf(t, got["connectjwt.stream.ends"], map[string]string{
		"rpc.service": "example.v1.ProtectedService", "rpc.method": "Chat", "connectjwt.reason": "REASON_EXPIRED",
	}); n != 1 {
		t.Errorf("stream.ends = %d, want 1", n)
	}
}

// TestRefusalOnSpan: a refusal shows on the span in the call's context
// (otelconnect's or otelhttp's); an admitted call leaves it alone.
func TestRefusalOnSpan(t *testing.T) {
	o, _ := newObserver(t)
	rec := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test")

	ctx, span := tracer.Start(context.Background(), "refused")
	o.ObserveDecision(ctx, connectjwt.Decision{Procedure: "/p.v1.S/M", Outcome: connectjwt.OutcomeRefused, Reason: connectjwt.ReasonOf(connectjwt.ErrRevoked)})
	span.End()
	ctx, span = tracer.Start(context.Background(), "allowed")
	o.ObserveDecision(ctx, connectjwt.Decision{Procedure: "/p.v1.S/M", Outcome: connectjwt.OutcomeAllowed})
	span.End()
	o.ObserveDecision(context.Background(), connectjwt.Decision{Outcome: connectjwt.OutcomeRefused}) // no span: no panic

	ended := rec.Ended()
	if len(ended) != 2 {
		t.Fatalf("%d spans ended, want 2", len(ended))
	}
	refused, allowed := ended[0], ended[1]
	if ev := refused.Events(); len(ev) != 1 || ev[0].Name != "connectjwt.refused" ||
		!equal(attrs(attribute.NewSet(ev[0].Attributes...)), map[string]string{"connectjwt.reason": "REASON_REVOKED"}) {
		t.Errorf("refused span events = %+v", ev)
	}
	if got := attrs(attribute.NewSet(refused.Attributes()...)); got["connectjwt.reason"] != "REASON_REVOKED" || got["connectjwt.outcome"] != "refused" {
		t.Errorf("refused span attributes = %v", got)
	}
	if len(allowed.Events()) != 0 || len(allowed.Attributes()) != 0 {
		t.Errorf("allowed span was marked: %v %v", allowed.Events(), allowed.Attributes())
	}
}

// TestProcedureCardinality: names that are not procedures (paths chosen by
// clients) never become attribute values.
func TestProcedureCardinality(t *testing.T) {
	o, reader := newObserver(t)
	for _, p := range []string{"/a", "/a/b", "/a.b/c/d", "//x", "nope", "/a.b/"} {
		o.ObserveDecision(context.Background(), connectjwt.Decision{Procedure: p, Outcome: connectjwt.OutcomeAllowed})
	}
	got := collect(t, reader)
	if n, _ := sumOf(t, got["connectjwt.decisions"], map[string]string{"connectjwt.outcome": "allowed"}); n != 6 {
		t.Errorf("decisions without rpc attributes = %d, want all 6", n)
	}
}

func BenchmarkObserveDecision(b *testing.B) {
	reader := sdkmetric.NewManualReader()
	o, err := otelmetrics.NewObserver(otelmetrics.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	if err != nil {
		b.Fatal(err)
	}
	d := connectjwt.Decision{Procedure: "/example.v1.ProtectedService/Protected", Outcome: connectjwt.OutcomeAllowed, Cache: connectjwt.CacheHit, Duration: time.Microsecond}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		o.ObserveDecision(ctx, d)
	}
}

// TestDecisionAllocations: once a kind of decision has been seen, recording
// it again allocates nothing.
func TestDecisionAllocations(t *testing.T) {
	o, _ := newObserver(t)
	d := connectjwt.Decision{Procedure: "/example.v1.ProtectedService/Protected", Outcome: connectjwt.OutcomeRefused,
		Reason: connectjwt.ReasonOf(connectjwt.ErrExpired), Cache: connectjwt.CacheHit, Duration: time.Microsecond}
	ctx := context.Background()
	o.ObserveDecision(ctx, d)
	if allocs := testing.AllocsPerRun(100, func() { o.ObserveDecision(ctx, d) }); allocs != 0 {
		t.Errorf("%v allocations per decision, want 0", allocs)
	}
}
