package bench

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"testing"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
)

// openStreams is how many streams BenchmarkOpenStreams holds open at once.
const openStreams = 10_000

// BenchmarkOpenStreams measures what an open stream costs in heap while its
// handler waits on its context (as a handler that serves pushes does): it
// opens openStreams server streams at once through the interceptor's
// WrapStreamingHandler, in process (no network, whose buffers would be the
// same for every implementation and would drown the difference), and
// reports the live heap per stream (heap-B/stream) once all are open. impl
// "none" runs the same handler without the interceptor; the difference is
// the interceptor's. Goroutine stacks are not heap and are left out.
func BenchmarkOpenStreams(b *testing.B) {
	f := fixtureFor(b, "HS256")
	for _, impl := range orderedImpls(b) {
		wrap := streamWrapper(b, impl, f)
		if wrap == nil {
			continue
		}
		b.Run("impl="+impl, func(b *testing.B) {
			ready := make(chan struct{}, openStreams)
			handler := wrap(func(ctx context.Context, _ connect.StreamingHandlerConn) error {
				ready <- struct{}{}
				<-ctx.Done()
				return nil
			})
			conn := &idleConn{header: http.Header{"Authorization": {"Bearer " + f.token}}}
			// measure opens the streams, returns the heap per stream and
			// ends them. It runs once first, unmeasured, so that the
			// runtime's goroutine descriptors (heap, reused once freed)
			// exist before, not during, the measured runs.
			measure := func() float64 {
				ctx, cancel := context.WithCancel(context.Background())
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				var wg sync.WaitGroup
				for range openStreams {
					wg.Go(func() { _ = handler(ctx, conn) })
				}
				for range openStreams {
					<-ready
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				cancel()
				wg.Wait()
				return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / openStreams
			}
			measure()
			var perStream float64
			for b.Loop() {
				perStream = measure()
			}
			b.ReportMetric(perStream, "heap-B/stream")
		})
	}
}

// idleConn is a stream's connection that costs nothing: Send discards,
// Receive returns an empty message at once. bidi makes it a bidi stream,
// otherwise a server stream.
type idleConn struct {
	header http.Header
	bidi   bool
}

func (c *idleConn) Spec() connect.Spec {
	if c.bidi {
		return connect.Spec{Procedure: examplev1connect.ProtectedServiceChatProcedure, StreamType: connect.StreamTypeBidi}
	}
	return connect.Spec{Procedure: examplev1connect.ProtectedServiceProtectedStreamProcedure, StreamType: connect.StreamTypeServer}
}
func (c *idleConn) Peer() connect.Peer {
	return connect.Peer{Addr: "127.0.0.1:1", Protocol: connect.ProtocolGRPC}
}
func (c *idleConn) RequestHeader() http.Header   { return c.header }
func (c *idleConn) ResponseHeader() http.Header  { return http.Header{} }
func (c *idleConn) ResponseTrailer() http.Header { return http.Header{} }
func (c *idleConn) Send(any) error               { return nil }
func (c *idleConn) Receive(any) error            { return nil }

// BenchmarkStreamHandler is the server side of a bidi stream alone, in
// process: the interceptor's WrapStreamingHandler around a handler that
// receives and sends streamMessages messages on a connection that costs
// nothing, so what the interceptor adds per stream and per message stands
// out from the noise of a loopback round trip.
func BenchmarkStreamHandler(b *testing.B) {
	f := fixtureFor(b, "HS256")
	for _, impl := range orderedImpls(b) {
		wrap := streamWrapper(b, impl, f)
		if wrap == nil {
			continue
		}
		for _, shape := range []string{"server", "bidi"} {
			b.Run("shape="+shape+"/impl="+impl, func(b *testing.B) {
				benchStreamHandler(b, wrap, f.token, shape == "bidi")
			})
		}
	}
}

// benchStreamHandler measures one stream of a handler wrapped by wrap: on a
// server stream it sends streamMessages messages, on a bidi stream it
// receives and answers as many.
func benchStreamHandler(b *testing.B, wrap func(connect.StreamingHandlerFunc) connect.StreamingHandlerFunc, token string, bidi bool) {
	b.Helper()
	handler := wrap(func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		var req examplev1.ChatRequest
		for range streamMessages {
			if bidi {
				if err := conn.Receive(&req); err != nil {
					return err
				}
			}
			if err := conn.Send(&examplev1.ChatResponse{Text: req.GetText()}); err != nil {
				return err
			}
		}
		return nil
	})
	conn := &idleConn{header: http.Header{"Authorization": {"Bearer " + token}}, bidi: bidi}
	ctx := context.Background()
	if err := handler(ctx, conn); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := handler(ctx, conn); err != nil {
			b.Fatal(err)
		}
	}
}

// streamWrapper returns how impl wraps a streaming handler, in process: not
// at all for the baselines, the interceptor for connectjwt; nil for the
// implementations that are HTTP middleware or not measured here.
func streamWrapper(tb testing.TB, impl string, f *fixture) func(connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	tb.Helper()
	switch impl {
	case "none", "none-control":
		return func(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc { return next }
	case "connectjwt-nocache", "connectjwt-cache":
		v, err := connectjwt.NewValidator(f.shared(), cacheOption(impl == "connectjwt-cache"))
		if err != nil {
			tb.Fatal(err)
		}
		return connectjwt.NewInterceptor(v).WrapStreamingHandler
	}
	return nil
}
