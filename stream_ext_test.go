package connectjwt_test

// Streams do not outlive their token: a stream whose
// token expires mid-stream ends with CodeUnauthenticated and
// REASON_EXPIRED on every protocol, including when the handler is blocked
// in Receive waiting for a silent client (released by the HTTP read
// deadline that StreamDeadlines lets the interceptor set); no
// goroutine is left behind.
//
// TestStreamEndsWhenTokenExpires (interceptor_test.go) covers the basic
// server-, client- and bidi-stream expiry; these tests add the timing bound
// for silent clients and handlers, leeway, the WWW-Authenticate challenge,
// goroutine accounting and the expiringConn contract.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/proto"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
)

// lifeSvc is a ProtectedService whose stream handlers report when they end.
type lifeSvc struct {
	examplev1connect.UnimplementedProtectedServiceHandler

	active atomic.Int64
	// silent: ProtectedStream sends one message, then waits for its
	// context without sending.
	silent bool
	tick   time.Duration
	mu     sync.Mutex
	ends   []time.Time
}

func (s *lifeSvc) enter() func() {
	s.active.Add(1)
	return func() {
		s.mu.Lock()
		s.ends = append(s.ends, time.Now())
		s.mu.Unlock()
		s.active.Add(-1)
	}
}

func (s *lifeSvc) lastEnd() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ends) == 0 {
		return time.Time{}
	}
	return s.ends[len(s.ends)-1]
}

func (s *lifeSvc) Protected(ctx context.Context, _ *connect.Request[examplev1.ProtectedRequest]) (*connect.Response[examplev1.ProtectedResponse], error) {
	id, _ := connectjwt.IdentityFromContext(ctx)
	return connect.NewResponse(&examplev1.ProtectedResponse{Hello: "world", Identity: id}), nil
}

func (s *lifeSvc) ProtectedStream(ctx context.Context, req *connect.Request[examplev1.ProtectedStreamRequest], st *connect.ServerStream[examplev1.ProtectedStreamResponse]) error {
	defer s.enter()()
	id, _ := connectjwt.IdentityFromContext(ctx)
	for i := int32(1); i <= max(req.Msg.GetCount(), 1); i++ {
		if err := st.Send(&examplev1.ProtectedStreamResponse{Hello: "world", Sequence: i, Identity: id}); err != nil {
			return err
		}
		if s.silent {
			<-ctx.Done()
			return ctx.Err()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.tick):
		}
	}
	return nil
}

func (s *lifeSvc) Collect(ctx context.Context, st *connect.ClientStream[examplev1.CollectRequest]) (*connect.Response[examplev1.CollectResponse], error) {
	defer s.enter()()
	var words []string
	for st.Receive() {
		words = append(words, st.Msg().GetWord())
	}
	if err := st.Err(); err != nil {
		return nil, err
	}
	return connect.NewResponse(&examplev1.CollectResponse{Words: words}), nil
}

func (s *lifeSvc) Chat(ctx context.Context, st *connect.BidiStream[examplev1.ChatRequest, examplev1.ChatResponse]) error {
	defer s.enter()()
	id, _ := connectjwt.IdentityFromContext(ctx)
	for {
		msg, err := st.Receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := st.Send(&examplev1.ChatResponse{Text: msg.GetText(), Identity: id}); err != nil {
			return err
		}
	}
}

// startLife serves svc behind ic (gate and interceptor) and returns the
// server; its Cleanup closes it.
func startLife(t *testing.T, ic *connectjwt.Interceptor, svc *lifeSvc) *testServer {
	t.Helper()
	path, h := examplev1connect.NewProtectedServiceHandler(svc, ic.HandlerOption())
	mux := http.NewServeMux()
	mux.Handle(path, connectjwt.StreamDeadlines(h))
	return serveOn(t, mux)
}

// serveOn is startServer for an arbitrary handler: h2c and HTTP/1.1 on
// 127.0.0.1, closed at Cleanup.
func serveOn(t *testing.T, mux *http.ServeMux) *testServer {
	t.Helper()
	url, client, stop := serve(mux)
	t.Cleanup(func() {
		stop()
		client.CloseIdleConnections()
	})
	return &testServer{URL: url, http: &http.Client{Transport: headerTransport{client.Transport}}}
}

// expiringClaims returns the claims of an access token that expires ttl
// from now (fractional exp, so expiry is not on a second), and that time.
func expiringClaims(ttl time.Duration) (jwt.MapClaims, time.Time) {
	now := time.Now()
	exp := now.Add(ttl)
	c := claimsAt(now, time.Hour)
	c["exp"] = float64(exp.UnixNano()) / 1e9
	return c, exp
}

// shortCall returns the context of a call that carries a token expiring in
// ttl (exp), bounded at limit so that a stream outliving its token cannot
// hang the test.
func shortCall(tb testing.TB, ttl, limit time.Duration) (context.Context, time.Time) {
	tb.Helper()
	claims, exp := expiringClaims(ttl)
	tok := mint(tb, tokenSpec{Claims: claims})
	ctx, cancel := context.WithTimeout(withBearer(context.Background(), tok), limit)
	tb.Cleanup(cancel)
	return ctx, exp
}

// wantExpiredSoon checks err is the expired error and came within bound
// of exp, and the WWW-Authenticate challenge fits the protocol.
func wantExpiredSoon(t *testing.T, p protocol, err error, exp time.Time, bound time.Duration) {
	t.Helper()
	wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonExpired)
	if late := time.Since(exp); late > bound {
		t.Errorf("stream ended %v after the token expired (bound %v)", late, bound)
	}
	var ce *connect.Error
	errors.As(err, &ce)
	got := ce.Meta().Get("Www-Authenticate")
	switch p.name {
	case "grpc":
		if got != "" {
			t.Errorf("gRPC trailer WWW-Authenticate %q", got)
		}
	default:
		if got != `Bearer error="invalid_token"` {
			t.Errorf("WWW-Authenticate %q", got)
		}
	}
}

// waitIdle waits until no handler of svc runs.
func waitIdle(t *testing.T, svc *lifeSvc, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for svc.active.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d stream handlers still running %v later", svc.active.Load(), within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settleGoroutines waits until the goroutine count is back to at most
// base+slack, and fails with a dump when it is not within d.
func settleGoroutines(t *testing.T, base, slack int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		n := runtime.NumGoroutine()
		if n <= base+slack {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d, want at most %d\n%s", n, base+slack, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openChat opens a bidi stream, sends one message and reads its echo, so
// that the handler then waits in Receive; the stream's response side is
// closed at Cleanup.
func openChat(ctx context.Context, t *testing.T, client examplev1connect.ProtectedServiceClient) *connect.BidiStreamForClient[examplev1.ChatRequest, examplev1.ChatResponse] {
	t.Helper()
	st := client.Chat(ctx)
	t.Cleanup(func() { _ = st.CloseResponse() })
	if err := st.Send(&examplev1.ChatRequest{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if m, err := st.Receive(); err != nil || m.GetIdentity() != testSubject {
		t.Fatalf("first echo: %v %v", m, err)
	}
	return st
}

// A bidi handler blocked in Receive while the client stays silent after the
// token expired is woken and ends with REASON_EXPIRED within about a second,
// on all three protocols; the handler returns, and no goroutine is left.
// Not parallel: it counts goroutines.
func TestStreamSilentBidiClientEndsAtExpiry(t *testing.T) {
	const ttl = 1200 * time.Millisecond
	base := runtime.NumGoroutine()
	t.Run("streams", func(t *testing.T) {
		svc := &lifeSvc{}
		s := startLife(t, newInterceptor(t), svc)
		var wg sync.WaitGroup
		for _, p := range protocols() {
			wg.Add(1)
			t.Run(p.name, func(t *testing.T) {
				t.Parallel()
				defer wg.Done()
				ctx, exp := shortCall(t, ttl, 8*time.Second)
				st := openChat(ctx, t, s.client(p))
				// Silent from now on: the handler waits in Receive. Safety
				// net: a client Receive does not watch its context while
				// the request side is idle, so close the request side 3 s
				// after exp and fail, rather than hang, if the server has
				// not ended the stream by then.
				var rescued atomic.Bool
				net := time.AfterFunc(time.Until(exp.Add(3*time.Second)), func() {
					rescued.Store(true)
					_ = st.CloseRequest()
				})
				defer net.Stop()
				_, err := st.Receive()
				if rescued.Load() {
					t.Fatalf("stream outlived its token by 3 s (err %v)", err)
				}
				wantExpiredSoon(t, p, err, exp, time.Second)
				if end := svc.lastEnd(); end.IsZero() || end.Sub(exp) > time.Second {
					t.Errorf("handler ended %v after exp", end.Sub(exp))
				}
			})
		}
		t.Cleanup(func() { waitIdle(t, svc, 3*time.Second) })
	})
	settleGoroutines(t, base, 2, 5*time.Second)
}

// Without StreamDeadlines nothing can interrupt a read of the request body: a
// bidi handler blocked in Receive on a silent client stays blocked after
// expiry (its context has ended) until the client moves, and the stream
// then still ends with the expired error. All protocols.
func TestStreamSilentClientWithoutStreamDeadlines(t *testing.T) {
	t.Parallel()
	svc := &lifeSvc{}
	ic := newInterceptor(t)
	path, h := examplev1connect.NewProtectedServiceHandler(svc, ic.HandlerOption())
	mux := http.NewServeMux()
	mux.Handle(path, h)
	s := serveOn(t, mux)
	for _, p := range protocols() {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			ctx, exp := shortCall(t, 500*time.Millisecond, 8*time.Second)
			st := openChat(ctx, t, s.client(p))
			closeAt := exp.Add(time.Second)
			stop := time.AfterFunc(time.Until(closeAt), func() { _ = st.CloseRequest() })
			defer stop.Stop()
			_, err := st.Receive()
			wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonExpired)
			if time.Now().Before(closeAt) {
				t.Errorf("released %v after exp, before the client closed its side: something else releases it now; update the docs", time.Since(exp))
			}
		})
	}
}

// A client stream whose client sends one message and then nothing: the
// handler is blocked in Receive and must end at expiry (observed on the
// server side; the client only reads the answer when it closes).
func TestStreamSilentClientStreamEndsAtExpiry(t *testing.T) {
	t.Parallel()
	svc := &lifeSvc{}
	s := startLife(t, newInterceptor(t), svc)
	for _, p := range protocols() {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			ctx, exp := shortCall(t, time.Second, 8*time.Second)
			st := s.client(p).Collect(ctx)
			if err := st.Send(&examplev1.CollectRequest{Word: "w"}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Until(exp.Add(1500 * time.Millisecond)))
			_, err := st.CloseAndReceive()
			wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonExpired)
		})
	}
	t.Cleanup(func() {
		// Every handler ended within a second of its token's expiry, long
		// before the clients closed their side.
		waitIdle(t, svc, time.Second)
	})
}

// A server-stream handler that sends nothing (it waits on its context) ends
// at expiry; one that keeps sending is cut off at expiry. All protocols.
func TestStreamServerStreamEndsAtExpiry(t *testing.T) {
	t.Parallel()
	for _, silent := range []bool{true, false} {
		svc := &lifeSvc{silent: silent, tick: 100 * time.Millisecond}
		s := startLife(t, newInterceptor(t), svc)
		for _, p := range protocols() {
			name := p.name + "/sending"
			if silent {
				name = p.name + "/silent"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ctx, exp := shortCall(t, time.Second, 8*time.Second)
				st, err := s.client(p).ProtectedStream(ctx, connect.NewRequest(&examplev1.ProtectedStreamRequest{Count: 1000}))
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				n := 0
				for st.Receive() {
					n++
					if time.Now().After(exp.Add(300 * time.Millisecond)) {
						t.Fatalf("message %d received %v after exp", n, time.Since(exp))
					}
				}
				if n == 0 {
					t.Fatal("no message before expiry")
				}
				wantExpiredSoon(t, p, st.Err(), exp, time.Second)
			})
		}
	}
}

// WithLeeway extends a stream to exp + leeway, not beyond.
func TestStreamLeeway(t *testing.T) {
	t.Parallel()
	const leeway = time.Second
	svc := &lifeSvc{tick: 50 * time.Millisecond}
	s := startLife(t, newInterceptor(t, connectjwt.WithLeeway(leeway)), svc)
	p := protocols()[0]
	ctx, exp := shortCall(t, 500*time.Millisecond, 8*time.Second)
	st, err := s.client(p).ProtectedStream(ctx, connect.NewRequest(&examplev1.ProtectedStreamRequest{Count: 1000}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var last time.Time
	for st.Receive() {
		last = time.Now()
	}
	if last.Before(exp.Add(leeway - 200*time.Millisecond)) {
		t.Errorf("stream cut %v after exp, before exp+leeway", last.Sub(exp))
	}
	if last.After(exp.Add(leeway + 300*time.Millisecond)) {
		t.Errorf("message %v after exp, beyond the leeway", last.Sub(exp))
	}
	wantExpiredSoon(t, p, st.Err(), exp.Add(leeway), time.Second)
}

// fakeConn is a StreamingHandlerConn whose Receive blocks until the test
// feeds it a message, to check expiringConn's contract without a network.
type fakeConn struct {
	header   http.Header
	feed     chan proto.Message // what the next Receive decodes
	closed   chan struct{}      // closing it fails a blocked Receive
	writes   atomic.Int64       // messages written into Receive targets
	returned atomic.Int64
	sent     atomic.Int64
}

func newFakeConn(tok string) *fakeConn {
	return &fakeConn{
		header: http.Header{"Authorization": {"Bearer " + tok}},
		feed:   make(chan proto.Message),
		closed: make(chan struct{}),
	}
}

func (c *fakeConn) Spec() connect.Spec {
	return connect.Spec{Procedure: examplev1connect.ProtectedServiceChatProcedure, StreamType: connect.StreamTypeBidi}
}
func (c *fakeConn) Peer() connect.Peer {
	return connect.Peer{Addr: "127.0.0.1:1", Protocol: connect.ProtocolConnect}
}
func (c *fakeConn) RequestHeader() http.Header   { return c.header }
func (c *fakeConn) ResponseHeader() http.Header  { return http.Header{} }
func (c *fakeConn) ResponseTrailer() http.Header { return http.Header{} }
func (c *fakeConn) Send(any) error               { c.sent.Add(1); return nil }
func (c *fakeConn) Receive(msg any) error {
	defer c.returned.Add(1)
	select {
	case m := <-c.feed:
		if m == nil {
			return io.EOF
		}
		dst, ok := msg.(proto.Message)
		if !ok {
			return fmt.Errorf("receive into %T", msg)
		}
		proto.Merge(dst, m)
		c.writes.Add(1)
		return nil
	case <-c.closed:
		return errors.New("stream closed")
	}
}

// expiringConn's contract, through the exported WrapStreamingHandler and a
// fake connection (so no HTTP deadline releases a blocked Receive): before
// expiry messages and io.EOF pass through unchanged, also for a message type
// that is not a proto (a custom codec); a Receive under way at expiry
// returns the expired error when the inner Receive returns, also when a
// message arrived then (a late message is refused); after expiry neither
// Receive nor Send reaches the connection; and the stream ends with the
// expired loader's error whatever the handler returned.
func TestStreamExpiringConnContract(t *testing.T) {
	t.Parallel()
	ic := newInterceptor(t, connectjwt.WithCacheSize(0))

	// Before expiry: messages and EOF pass.
	claims, _ := expiringClaims(time.Hour)
	tok := mint(t, tokenSpec{Claims: claims})
	conn := newFakeConn(tok)
	done := make(chan error, 1)
	go func() {
		done <- ic.WrapStreamingHandler(func(ctx context.Context, sc connect.StreamingHandlerConn) error {
			var m examplev1.ChatRequest
			if err := sc.Receive(&m); err != nil || m.GetText() != "a" {
				return errors.New("first message lost")
			}
			if err := sc.Receive(&m); !errors.Is(err, io.EOF) {
				return errors.New("EOF lost")
			}
			return nil
		})(context.Background(), conn)
	}()
	conn.feed <- &examplev1.ChatRequest{Text: "a"}
	conn.feed <- nil // EOF
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(conn.closed)

	// A non-proto pointer message (a custom codec) is received too.
	type plain struct{ N int }
	pc := &plainConn{fakeConn: newFakeConn(tok), recv: func(msg any) error {
		p, ok := msg.(*plain)
		if !ok {
			return fmt.Errorf("receive into %T", msg)
		}
		*p = plain{N: 7}
		return nil
	}}
	if err := ic.WrapStreamingHandler(func(ctx context.Context, sc connect.StreamingHandlerConn) error {
		var p plain
		if err := sc.Receive(&p); err != nil || p.N != 7 {
			return errors.New("plain message lost")
		}
		return nil
	})(context.Background(), pc); err != nil {
		t.Fatal(err)
	}

	// A Receive waiting at expiry; the message arrives 50 ms after it.
	for _, late := range []proto.Message{&examplev1.ChatRequest{Text: "late"}, nil} {
		claims, exp := expiringClaims(200 * time.Millisecond)
		tok := mint(t, tokenSpec{Claims: claims})
		conn := newFakeConn(tok)
		var got, again, sent error
		go func() {
			done <- ic.WrapStreamingHandler(func(ctx context.Context, sc connect.StreamingHandlerConn) error {
				var m examplev1.ChatRequest
				got = sc.Receive(&m)
				again = sc.Receive(&m)
				sent = sc.Send(&examplev1.ChatResponse{Text: "x"})
				return nil // the stream still ends expired
			})(context.Background(), conn)
		}()
		time.Sleep(time.Until(exp.Add(50 * time.Millisecond)))
		conn.feed <- late
		err := <-done
		wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonExpired)
		for name, e := range map[string]error{"Receive at expiry": got, "Receive after": again, "Send after": sent} {
			if !errors.Is(e, connectjwt.ErrExpired) || connect.CodeOf(e) != connect.CodeUnauthenticated {
				t.Errorf("late %v: %s returned %v", late, name, e)
			}
		}
		if n := conn.returned.Load(); n != 1 {
			t.Errorf("%d inner Receives, want 1", n)
		}
		if conn.sent.Load() != 0 {
			t.Error("a Send reached the stream after expiry")
		}
		close(conn.closed)
	}
}

type plainConn struct {
	*fakeConn

	recv func(any) error
}

func (c *plainConn) Receive(msg any) error { return c.recv(msg) }

// Many streams whose tokens expire while their clients are silent, across
// protocols: every one ends with REASON_EXPIRED and the goroutine count
// settles back (no abandoned Receive outlives its stream). Not parallel: it
// counts goroutines.
func TestStreamNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Run("streams", func(t *testing.T) {
		svc := &lifeSvc{}
		s := startLife(t, newInterceptor(t), svc)
		var wg sync.WaitGroup
		var expired atomic.Int64
		const perProtocol = 8
		for _, p := range protocols() {
			for range perProtocol {
				wg.Go(func() {
					ctx, exp := shortCall(t, 700*time.Millisecond, 8*time.Second)
					st := s.client(p).Chat(ctx)
					defer func() { _ = st.CloseResponse() }()
					if st.Send(&examplev1.ChatRequest{Text: "x"}) != nil {
						return
					}
					if _, err := st.Receive(); err != nil {
						return
					}
					// Safety net against a hang (see above).
					net := time.AfterFunc(time.Until(exp.Add(3*time.Second)), func() { _ = st.CloseRequest() })
					defer net.Stop()
					_, err := st.Receive()
					if connectjwt.ReasonOf(err) == connectjwt.ReasonExpired && time.Since(exp) < 1500*time.Millisecond {
						expired.Add(1)
					}
				})
			}
		}
		wg.Wait()
		if got := expired.Load(); got != 3*perProtocol {
			t.Errorf("%d of %d streams ended expired within 1.5 s of exp", got, 3*perProtocol)
		}
		waitIdle(t, svc, 2*time.Second)
	})
	settleGoroutines(t, base, 2, 5*time.Second)
}

// A token whose claims cannot be interpreted never reaches the stream
// lifetime code; a valid one gets a stream (control for the tests above).
func TestStreamControlValidTokenStreams(t *testing.T) {
	t.Parallel()
	svc := &lifeSvc{tick: time.Millisecond}
	s := startLife(t, newInterceptor(t), svc)
	tok := mint(t, tokenSpec{Claims: jwt.MapClaims{"sub": testSubject, "iss": testIssuer, "aud": testAudience, "exp": time.Now().Add(time.Hour).Unix()}})
	for _, p := range protocols() {
		st, err := s.client(p).ProtectedStream(withBearer(context.Background(), tok), connect.NewRequest(&examplev1.ProtectedStreamRequest{Count: 3}))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for st.Receive() {
			n++
		}
		if st.Err() != nil || n != 3 {
			t.Errorf("%s: %d messages, %v", p.name, n, st.Err())
		}
		st.Close()
	}
}

// The expired-token loader of a stream that expired gets a live context
// (not the stream's cancelled one) carrying the verified claims.
func TestStreamExpiredLoaderContext(t *testing.T) {
	t.Parallel()
	type seen struct {
		ctxErr error
		claims bool
		proc   string
	}
	got := make(chan seen, 1)
	ic := newInterceptor(t, connectjwt.WithCacheSize(0), connectjwt.WithExpiredTokenLoader(func(ctx context.Context, f *connectjwt.Failure) *connect.Error {
		got <- seen{ctx.Err(), f.Claims != nil && f.Claims.Identity == testSubject, f.Procedure}
		return nil
	}))
	claims, _ := expiringClaims(200 * time.Millisecond)
	tok := mint(t, tokenSpec{Claims: claims})
	conn := newFakeConn(tok)
	defer close(conn.closed)
	err := ic.WrapStreamingHandler(func(ctx context.Context, sc connect.StreamingHandlerConn) error {
		<-ctx.Done()
		var m examplev1.ChatRequest
		return sc.Receive(&m)
	})(context.Background(), conn)
	wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonExpired)
	s := <-got
	if s.ctxErr != nil || !s.claims || s.proc != examplev1connect.ProtectedServiceChatProcedure {
		t.Errorf("loader saw ctx error %v, claims %v, procedure %q", s.ctxErr, s.claims, s.proc)
	}
}

// floodSvc's ProtectedStream sends large messages until Send fails, so a
// client that stops reading blocks it in Send (flow control), and reports
// when the handler returned.
type floodSvc struct {
	examplev1connect.UnimplementedProtectedServiceHandler

	done chan time.Time
}

func (s *floodSvc) ProtectedStream(_ context.Context, _ *connect.Request[examplev1.ProtectedStreamRequest], st *connect.ServerStream[examplev1.ProtectedStreamResponse]) error {
	defer func() { s.done <- time.Now() }()
	msg := &examplev1.ProtectedStreamResponse{Hello: strings.Repeat("x", 256<<10)}
	for range 1000 { // ~256 MB at most: far more than any buffer
		if err := st.Send(msg); err != nil {
			return err
		}
	}
	return errors.New("the client never pushed back")
}

// newFlood serves a floodSvc behind ic. Its messages go uncompressed, so
// the flood fills the client's window long before a token expires, even
// under -race.
func newFlood(ic *connectjwt.Interceptor) (*floodSvc, http.Handler) {
	svc := &floodSvc{done: make(chan time.Time, 1)}
	path, h := examplev1connect.NewProtectedServiceHandler(svc, ic.HandlerOption(), connect.WithCompressMinBytes(math.MaxInt32))
	mux := http.NewServeMux()
	mux.Handle(path, h)
	return svc, mux
}

// With StreamDeadlines, a handler blocked in Send because the client stopped
// reading is released one second after the token expires, on every
// protocol over HTTP/2 and on Connect over HTTP/1.1. Without it, the same
// handler is still blocked then.
func TestStreamDeadlinesReleaseBlockedSend(t *testing.T) {
	ic := newInterceptor(t)
	http1 := &http.Client{Transport: headerTransport{&http.Transport{}}}
	type transport struct {
		name   string
		p      protocol
		client func(*testServer) *http.Client
	}
	var cases []transport
	for _, p := range protocols() {
		cases = append(cases, transport{"h2/" + p.name, p, func(s *testServer) *http.Client { return s.http }})
	}
	cases = append(cases, transport{"http1/connect", protocols()[0], func(*testServer) *http.Client { return http1 }})
	// Media types are case-insensitive; connect-go serves this one.
	shouting := &http.Client{Transport: headerTransport{&contentTypeTransport{"Application/Connect+proto", http.DefaultTransport}}}
	cases = append(cases, transport{"http1/connect, Application/Connect+proto", protocols()[0], func(*testServer) *http.Client { return shouting }})
	for _, withDeadlines := range []bool{true, false} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("middleware=%v/%s", withDeadlines, tc.name), func(t *testing.T) {
				t.Parallel()
				svc, h := newFlood(ic)
				outer := h
				if withDeadlines {
					outer = connectjwt.StreamDeadlines(h)
				}
				mux := http.NewServeMux()
				mux.Handle("/", outer)
				s := serveOn(t, mux)
				claims, exp := expiringClaims(2 * time.Second)
				tok := mint(t, tokenSpec{Claims: claims})
				ctx, cancel := context.WithCancel(withBearer(context.Background(), tok))
				defer cancel()
				openStream(ctx, t, examplev1connect.NewProtectedServiceClient(tc.client(s), s.URL, tc.p.opts...))
				// Stop reading. The handler fills the flow-control
				// window and blocks in Send.
				released := exp.Add(time.Second)
				if withDeadlines {
					select {
					case end := <-svc.done:
						if end.Before(exp) {
							t.Fatalf("handler returned %v before the token expired", exp.Sub(end))
						}
						if late := end.Sub(released); late > 1500*time.Millisecond {
							t.Errorf("handler released %v after expiry + 1s", late)
						}
					case <-time.After(time.Until(released) + 5*time.Second):
						t.Fatal("handler still blocked in Send 5s after expiry + 1s")
					}
					return
				}
				select {
				case end := <-svc.done:
					t.Fatalf("without StreamDeadlines the handler returned at %v after expiry; the test does not block Send", end.Sub(exp))
				case <-time.After(time.Until(released) + 1500*time.Millisecond):
				}
				cancel() // the client goes away: that releases it
				select {
				case <-svc.done:
				case <-time.After(10 * time.Second):
					t.Fatal("handler not released when the client went away")
				}
			})
		}
	}
}

// With StreamDeadlines, a revocation releases a handler blocked in Send on a
// client that stopped reading one second after the revocation is seen, not
// at the token's exp plus one second.
func TestStreamRevocationReleasesBlockedSend(t *testing.T) {
	t.Parallel()
	const every = 100 * time.Millisecond
	store := connectjwt.NewMemoryStore()
	ic := newInterceptor(t, connectjwt.WithRevocationStore(store), connectjwt.WithStreamRevocationCheck(every))
	for _, p := range protocols() {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			svc, h := newFlood(ic)
			mux := http.NewServeMux()
			mux.Handle("/", connectjwt.StreamDeadlines(h))
			s := serveOn(t, mux)
			c := claimsAt(time.Now(), time.Hour)
			jti := "blocked-send-" + p.name
			c["jti"] = jti
			ctx, cancel := context.WithCancel(withBearer(context.Background(), mint(t, tokenSpec{Claims: c})))
			defer cancel()
			openStream(ctx, t, s.client(p))
			// The client stops reading; the handler blocks in Send.
			revoked := time.Now()
			if err := store.RevokeToken(context.Background(), &connectjwt.Claims{ID: jti, Identity: testSubject, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			select {
			case end := <-svc.done:
				if late := end.Sub(revoked); late > 2*every+connectjwtGrace+1500*time.Millisecond {
					t.Errorf("handler released %v after the revocation", late)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("handler still blocked in Send 10s after the revocation (the token is valid for an hour)")
			}
		})
	}
}

// connectjwtGrace is the second StreamDeadlines gives a blocked write.
const connectjwtGrace = time.Second

// StreamDeadlines passes Connect unary calls through untouched, and a stream
// whose token is still valid works as before.
func TestStreamDeadlinesPassCallsThrough(t *testing.T) {
	ic := newInterceptor(t)
	path, h := examplev1connect.NewProtectedServiceHandler(&lifeSvc{tick: time.Millisecond}, ic.HandlerOption())
	inner := http.NewServeMux()
	inner.Handle(path, h)
	mux := http.NewServeMux()
	mux.Handle("/", connectjwt.StreamDeadlines(inner))
	s := serveOn(t, mux)
	claims, _ := expiringClaims(time.Hour)
	tok := mint(t, tokenSpec{Claims: claims})
	ctx := withBearer(context.Background(), tok)
	for _, p := range protocols() {
		for _, sh := range []shape{unary, serverStream} {
			ids, err := call(ctx, s.client(p), sh)
			if err != nil {
				t.Fatalf("%s %v: %v", p.name, sh, err)
			}
			if len(ids) == 0 {
				t.Fatalf("%s %v: no answer", p.name, sh)
			}
		}
	}
}

// StreamDeadlines never gives a stream more time than the server's own
// WriteTimeout: with a token valid for an hour, the server's timeout still
// releases a blocked Send.
func TestStreamDeadlinesKeepServerWriteTimeout(t *testing.T) {
	ic := newInterceptor(t)
	svc, inner := newFlood(ic)
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: connectjwt.StreamDeadlines(inner), Protocols: &p, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 2 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	var cp http.Protocols
	cp.SetUnencryptedHTTP2(true)
	hc := &http.Client{Transport: headerTransport{&http.Transport{Protocols: &cp}}}
	claims, _ := expiringClaims(time.Hour)
	tok := mint(t, tokenSpec{Claims: claims})
	ctx, cancel := context.WithCancel(withBearer(context.Background(), tok))
	defer cancel()
	start := time.Now()
	openStream(ctx, t, examplev1connect.NewProtectedServiceClient(hc, "http://"+ln.Addr().String()))
	select {
	case end := <-svc.done:
		if d := end.Sub(start); d > 5*time.Second {
			t.Errorf("released after %v; the server's WriteTimeout is 2s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the StreamDeadlines deadline replaced the server's WriteTimeout")
	}
}

// contentTypeTransport sends every request with the given Content-Type.
type contentTypeTransport struct {
	contentType string
	next        http.RoundTripper
}

func (t *contentTypeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Content-Type", t.contentType)
	return t.next.RoundTrip(r)
}

// An open stream asks the blocklist again every WithStreamRevocationCheck
// interval: revoking its token ends it with REASON_REVOKED, whether its
// handler is waiting on the context (silent) or sending (ticking), on
// every protocol.
func TestStreamRevocationEndsOpenStream(t *testing.T) {
	for _, p := range protocols() {
		for _, silent := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/silent=%v", p.name, silent), func(t *testing.T) {
				t.Parallel()
				store := connectjwt.NewMemoryStore()
				ic := newInterceptor(t, connectjwt.WithRevocationStore(store), connectjwt.WithStreamRevocationCheck(100*time.Millisecond))
				s := startLife(t, ic, &lifeSvc{silent: silent, tick: 20 * time.Millisecond})
				c := claimsAt(time.Now(), time.Hour)
				c["jti"] = "stream-" + p.name + strconv.FormatBool(silent)
				tok := mint(t, tokenSpec{Claims: c})
				ctx, cancel := context.WithTimeout(withBearer(context.Background(), tok), 10*time.Second)
				defer cancel()
				stream := openStream(ctx, t, s.client(p))
				err := drainAfter(t, stream, func() {
					if err := store.RevokeToken(context.Background(), &connectjwt.Claims{ID: fmt.Sprint(c["jti"]), Identity: "x", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
						t.Fatal(err)
					}
				})
				wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonRevoked)
			})
		}
	}
}

// A revocation check that cannot be answered ends the stream as
// unavailable (fail closed): a store that errors, one that hangs (and
// ignores its context), one that panics. With the check off, a revoked
// token's stream runs on.
func TestStreamRevocationCheckFailsClosedOrOff(t *testing.T) {
	released := make(chan struct{})
	defer close(released)
	for _, tc := range []struct {
		name   string
		broken func() (bool, error)
	}{
		{"errors", func() (bool, error) { return false, errors.New("store down") }},
		{"hangs", func() (bool, error) { <-released; return false, nil }},
		{"panics", func() (bool, error) { panic("store bug") }}, //nolint:forbidigo // a store that panics, on purpose
	} {
		t.Run(tc.name, func(t *testing.T) {
			var down atomic.Bool
			store := connectjwt.RevokedFunc(func(context.Context, *connectjwt.Claims) (bool, error) {
				if down.Load() {
					return tc.broken()
				}
				return false, nil
			})
			ic := newInterceptor(t, connectjwt.WithRevocationStore(store), connectjwt.WithStreamRevocationCheck(50*time.Millisecond))
			s := startLife(t, ic, &lifeSvc{silent: true})
			ctx, _ := shortCall(t, time.Hour, 10*time.Second)
			stream := openStream(ctx, t, s.client(protocols()[0]))
			err := drainAfter(t, stream, func() { down.Store(true) })
			wantReason(t, err, connect.CodeUnavailable, connectjwt.ReasonUnavailable)
		})
	}

	// Off: the stream outlives a revocation.
	store := connectjwt.NewMemoryStore()
	off := newInterceptor(t, connectjwt.WithRevocationStore(store), connectjwt.WithStreamRevocationCheck(0))
	s := startLife(t, off, &lifeSvc{silent: true})
	c := claimsAt(time.Now(), time.Hour)
	c["jti"] = "kept"
	ctx, cancel := context.WithCancel(withBearer(context.Background(), mint(t, tokenSpec{Claims: c})))
	defer cancel()
	stream := openStream(ctx, t, s.client(protocols()[0]))
	_ = store.RevokeToken(context.Background(), &connectjwt.Claims{ID: "kept", Identity: "x", ExpiresAt: time.Now().Add(time.Hour)})
	ended := make(chan error, 1)
	go func() {
		for stream.Receive() {
		}
		ended <- stream.Err()
	}()
	select {
	case err := <-ended:
		t.Fatalf("with the check off the stream ended: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	cancel()
	if err := <-ended; connect.CodeOf(err) != connect.CodeCanceled {
		t.Errorf("after cancel the stream ended with %v, want canceled", err)
	}
}

// openStream starts ProtectedStream (asking for endless messages) and
// waits for its first message.
func openStream(ctx context.Context, t *testing.T, client examplev1connect.ProtectedServiceClient) *connect.ServerStreamForClient[examplev1.ProtectedStreamResponse] {
	t.Helper()
	stream, err := client.ProtectedStream(ctx, connect.NewRequest(&examplev1.ProtectedStreamRequest{Count: 1 << 30}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stream.Close() })
	if !stream.Receive() {
		t.Fatalf("first message: %v", stream.Err())
	}
	return stream
}

// drainAfter does act, then reads stream to its end, which must come
// within two seconds (the tests check every 50 or 100 ms); it returns the
// stream's error.
func drainAfter(t *testing.T, stream *connect.ServerStreamForClient[examplev1.ProtectedStreamResponse], act func()) error {
	t.Helper()
	act()
	start := time.Now()
	for stream.Receive() {
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stream ended %v after the change", d)
	}
	return stream.Err()
}

// Revoking the token of a stream whose handler is blocked in Receive on a
// silent client ends it with REASON_REVOKED at the next check: under
// StreamDeadlines the read deadline moves to now when the stream's context
// ends by revocation, as it does at expiry. All protocols.
func TestStreamRevocationReleasesBlockedReceive(t *testing.T) {
	t.Parallel()
	const every = 100 * time.Millisecond
	store := connectjwt.NewMemoryStore()
	svc := &lifeSvc{}
	s := startLife(t, newInterceptor(t, connectjwt.WithRevocationStore(store), connectjwt.WithStreamRevocationCheck(every)), svc)
	for _, p := range protocols() {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			c := claimsAt(time.Now(), time.Hour)
			c["jti"] = "blocked-" + p.name
			ctx, cancel := context.WithTimeout(withBearer(context.Background(), mint(t, tokenSpec{Claims: c})), 10*time.Second)
			defer cancel()
			st := openChat(ctx, t, s.client(p))
			// Silent from now on: the handler waits in Receive.
			revoked := time.Now()
			if err := store.RevokeToken(context.Background(), &connectjwt.Claims{ID: fmt.Sprint(c["jti"]), Identity: testSubject, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			// Safety net, as in TestStreamSilentBidiClientEndsAtExpiry.
			var rescued atomic.Bool
			net := time.AfterFunc(3*time.Second, func() {
				rescued.Store(true)
				_ = st.CloseRequest()
			})
			defer net.Stop()
			_, err := st.Receive()
			if rescued.Load() {
				t.Fatalf("stream outlived its revocation by 3 s (err %v)", err)
			}
			wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonRevoked)
			if late := time.Since(revoked); late > 2*every+time.Second {
				t.Errorf("ended %v after the revocation", late)
			}
		})
	}
}

// Validator.StreamContext is what every front end runs for a stream. Under
// StreamDeadlines, a handler that uses it and is blocked reading the body of
// a client that sends nothing is released at expiry, over HTTP/1.1 and
// HTTP/2, with the expired *Failure (naming the procedure) as the context's
// cause; without StreamDeadlines only the context ends.
func TestStreamContextReleasesBlockedRead(t *testing.T) {
	t.Parallel()
	v := newInterceptor(t).Validator()
	for _, tc := range []struct {
		name      string
		h2        bool
		deadlines bool
	}{
		{"http1", false, true},
		{"h2c", true, true},
		{"h2c without StreamDeadlines", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type result struct {
				readErr error
				at      time.Time
				cause   error
			}
			results := make(chan result, 1)
			var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx, f := v.Authenticate(r.Context(), connectjwt.Call{Procedure: "/test.v1.S/Stream", Header: r.Header.Values("Authorization")})
				if f != nil {
					results <- result{readErr: f}
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				sctx, cancel := v.StreamContext(ctx)
				defer cancel()
				_, err := io.ReadAll(r.Body)
				results <- result{readErr: err, at: time.Now(), cause: context.Cause(sctx)}
			})
			if tc.deadlines {
				h = connectjwt.StreamDeadlines(h)
			}
			mux := http.NewServeMux()
			mux.Handle("/", h)
			url, h2client, stop := serve(mux)
			defer stop()
			client := &http.Client{}
			if tc.h2 {
				client = h2client
			}
			claims, exp := expiringClaims(500 * time.Millisecond)
			tok := mint(t, tokenSpec{Claims: claims})
			body, silent := io.Pipe()
			defer silent.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/test.v1.S/Stream", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/grpc")
			req.Header.Set("Authorization", "Bearer "+tok)
			go func() {
				if res, err := client.Do(req); err == nil {
					_ = res.Body.Close()
				}
			}()
			select {
			case <-time.After(time.Until(exp.Add(2 * time.Second))):
				if tc.deadlines {
					t.Fatal("the read was not released at expiry")
				}
				silent.Close() // let the handler return
				<-results
				return
			case res := <-results:
				if !tc.deadlines {
					t.Fatalf("released without StreamDeadlines: %v", res.readErr)
				}
				if res.readErr == nil {
					t.Fatal("read ended without an error")
				}
				if res.at.Before(exp) || res.at.Sub(exp) > 700*time.Millisecond {
					t.Errorf("read released %v after exp", res.at.Sub(exp))
				}
				var f *connectjwt.Failure
				if !errors.As(res.cause, &f) || f.Reason != connectjwt.ReasonExpired || f.Procedure != "/test.v1.S/Stream" {
					t.Errorf("cause %v", res.cause)
				}
			}
		})
	}
}
