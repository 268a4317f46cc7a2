package bench

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
	"github.com/connectjwt/connectjwt/otelmetrics"
)

// nopObserver drops every decision and event: the cost of the hook itself.
type nopObserver struct{}

func (nopObserver) ObserveDecision(context.Context, connectjwt.Decision) {}
func (nopObserver) ObserveEvent(context.Context, connectjwt.Event)       {}

// BenchmarkObserver is the cached unary round trip (HS256, serial) with the
// observer hook off, a no-op observer, the slog observer writing to a
// discarding handler (refusals only, so an admitted call is checked against
// the level and dropped) and the otelmetrics observer recording into a
// manual reader.
func BenchmarkObserver(b *testing.B) {
	f := fixtureFor(b, "HS256")
	reader := sdkmetric.NewManualReader()
	otelObs, err := otelmetrics.NewObserver(otelmetrics.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		o    connectjwt.Observer
	}{
		{"off", nil},
		{"nop", nopObserver{}},
		{"slog-discard", connectjwt.NewSlogObserver(slog.New(slog.DiscardHandler))},
		{"otel-manual-reader", otelObs},
	} {
		b.Run("hook="+bc.name, func(b *testing.B) {
			opts := []connectjwt.ValidatorOption{f.shared(), cacheOption(true)}
			if bc.o != nil {
				opts = append(opts, connectjwt.WithObserver(bc.o))
			}
			v, err := connectjwt.NewValidator(opts...)
			if err != nil {
				b.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.Handle(examplev1connect.NewProtectedServiceHandler(&service{identity: connectjwtIdentity},
				connectjwt.NewInterceptor(v).HandlerOption(), serverOptions()))
			client := startServer(b, mux)
			ctx := context.Background()
			if err := unaryCall(ctx, client, f.token); err != nil { // warm up: connection, cache
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := unaryCall(ctx, client, f.token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
