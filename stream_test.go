package connectjwt_test

// Streams do not outlive their token: a stream whose
// token expires mid-stream ends with CodeUnauthenticated and
// REASON_EXPIRED on every protocol, including when the handler is blocked
// in Receive waiting for a silent client; no goroutine is left behind; the
// abandoned Receive never writes into the handler's message.
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
	mux.Handle(path, h)
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

// shortToken mints an HS256 access token for the shared test key that
// expires ttl from now (fractional exp, so expiry is not on a second).
func shortToken(t testing.TB, ttl time.Duration) (string, time.Time) {
	now := time.Now()
	exp := now.Add(ttl)
	c := claimsAt(now, time.Hour)
	c["exp"] = float64(exp.UnixNano()) / 1e9
	return mintHS256(t, c, nil), exp
}

// shortCall returns the context of a call that carries a token expiring in
// ttl (exp), bounded at limit so that a stream outliving its token cannot
// hang the test.
func shortCall(t testing.TB, ttl, limit time.Duration) (context.Context, time.Time) {
	t.Helper()
	tok, exp := shortToken(t, ttl)
	ctx, cancel := context.WithTimeout(withBearer(context.Background(), tok), limit)
	t.Cleanup(cancel)
	return ctx, exp
}

// wantExpiredSoon checks err is the expired error and came within bound
// of exp, and the WWW-Authenticate challenge fits the protocol.
func wantExpiredSoon(t *testing.T, p protocol, err error, exp time.Time, bound time.Duration) {
	t.Helper()
	wantAuthError(t, err, connect.CodeUnauthenticated, connectjwt.ReasonExpired)
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
		for _, p := range protocols {
			wg.Add(1)
			t.Run(p.name, func(t *testing.T) {
				t.Parallel()
				defer wg.Done()
				ctx, exp := shortCall(t, ttl, 8*time.Second)
				st := s.client(p).Chat(ctx)
				defer st.CloseResponse()
				if err := st.Send(&examplev1.ChatRequest{Text: "hi"}); err != nil {
					t.Fatal(err)
				}
				if m, err := st.Receive(); err != nil || m.GetIdentity() != testSubject {
					t.Fatalf("first echo: %v %v", m, err)
				}
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

// A client stream whose client sends one message and then nothing: the
// handler is blocked in Receive and must end at expiry (observed on the
// server side; the client only reads the answer when it closes).
func TestStreamSilentClientStreamEndsAtExpiry(t *testing.T) {
	t.Parallel()
	svc := &lifeSvc{}
	s := startLife(t, newInterceptor(t), svc)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			ctx, exp := shortCall(t, time.Second, 8*time.Second)
			st := s.client(p).Collect(ctx)
			if err := st.Send(&examplev1.CollectRequest{Word: "w"}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Until(exp.Add(1500 * time.Millisecond)))
			_, err := st.CloseAndReceive()
			wantAuthError(t, err, connect.CodeUnauthenticated, connectjwt.ReasonExpired)
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
		for _, p := range protocols {
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
	p := protocols[0]
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
		proto.Merge(msg.(proto.Message), m)
		c.writes.Add(1)
		return nil
	case <-c.closed:
		return errors.New("stream closed")
	}
}

// expiringConn's contract, through the exported WrapStreamingHandler: a
// Receive blocked at expiry returns the expired error at once; the
// abandoned inner Receive never writes into the handler's message, even
// when a message arrives later; no further inner Receive starts; and the
// abandoned goroutine ends when the stream is torn down.
func TestStreamExpiringConnContract(t *testing.T) {
	t.Parallel()
	ic := newInterceptor(t, connectjwt.WithCacheSize(0))
	tok, exp := shortToken(t, 300*time.Millisecond)
	conn := newFakeConn(tok)
	handlerErr := make(chan error, 1)
	var msg examplev1.ChatRequest
	var got []string
	var afterExpiry error
	var receivesAfter int64
	h := ic.WrapStreamingHandler(func(ctx context.Context, sc connect.StreamingHandlerConn) error {
		// Before expiry: messages pass, EOF-free.
		for range 2 {
			if err := sc.Receive(&msg); err != nil {
				return err
			}
			got = append(got, msg.GetText())
		}
		// Now blocked until expiry.
		err := sc.Receive(&msg)
		afterExpiry = err
		before := conn.returned.Load()
		if err2 := sc.Receive(&msg); err2 == nil {
			return errors.New("Receive after expiry succeeded")
		}
		if err2 := sc.Send(&examplev1.ChatResponse{Text: "x"}); err2 == nil {
			return errors.New("Send after expiry succeeded")
		}
		receivesAfter = conn.returned.Load() - before
		// The abandoned inner Receive gets a message now: it must not
		// reach msg. The race detector also watches this read.
		for range 5 {
			if msg.GetText() != "two" {
				return errors.New("abandoned Receive wrote into the handler's message")
			}
			time.Sleep(10 * time.Millisecond)
		}
		return err
	})
	go func() { handlerErr <- h(context.Background(), conn) }()
	conn.feed <- &examplev1.ChatRequest{Text: "one"}
	conn.feed <- &examplev1.ChatRequest{Text: "two"}
	// The handler is now in the third Receive; after expiry, feed a late
	// message to the abandoned inner Receive.
	time.Sleep(time.Until(exp.Add(100 * time.Millisecond)))
	select {
	case conn.feed <- &examplev1.ChatRequest{Text: "late"}:
	case <-time.After(2 * time.Second):
		t.Fatal("the abandoned inner Receive is gone without the stream closing")
	}
	var err error
	select {
	case err = <-handlerErr:
	case <-time.After(3 * time.Second):
		t.Fatal("handler did not end")
	}
	if len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Errorf("received %q", got)
	}
	if !errors.Is(afterExpiry, connectjwt.ErrExpired) || connect.CodeOf(afterExpiry) != connect.CodeUnauthenticated {
		t.Errorf("blocked Receive returned %v", afterExpiry)
	}
	if receivesAfter != 0 {
		t.Errorf("%d inner Receives ran after expiry", receivesAfter)
	}
	if conn.sent.Load() != 0 {
		t.Errorf("a Send reached the stream after expiry")
	}
	wantAuthError(t, err, connect.CodeUnauthenticated, connectjwt.ReasonExpired)
	if msg.GetText() != "two" {
		t.Errorf("handler's message is %q", msg.GetText())
	}
	// The late message was consumed by the abandoned Receive, which has
	// returned: nothing is left running.
	deadline := time.Now().Add(time.Second)
	for conn.returned.Load() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("inner Receives returned %d times, want 3", conn.returned.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(conn.closed)
}

// A message that arrives just after expiry, while the handler was already
// waiting, is dropped: the handler gets the expired error, not the message.
// And before expiry, io.EOF and messages of any pointer type pass through.
func TestStreamExpiringConnLateMessageAndEOF(t *testing.T) {
	t.Parallel()
	ic := newInterceptor(t, connectjwt.WithCacheSize(0))

	// EOF before expiry passes through unchanged.
	tok, _ := shortToken(t, time.Hour)
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
			if m.GetText() != "a" {
				return errors.New("message changed by a failed Receive")
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
	conn2 := newFakeConn(tok)
	type plain struct{ N int }
	conn2Recv := func(msg any) error { *(msg.(*plain)) = plain{N: 7}; return nil }
	pc := &plainConn{fakeConn: conn2, recv: conn2Recv}
	if err := ic.WrapStreamingHandler(func(ctx context.Context, sc connect.StreamingHandlerConn) error {
		var p plain
		if err := sc.Receive(&p); err != nil || p.N != 7 {
			return errors.New("plain message lost")
		}
		return nil
	})(context.Background(), pc); err != nil {
		t.Fatal(err)
	}

	// Late message: the handler is waiting, the message arrives 50 ms
	// after expiry (the fake conn only delivers then).
	tok3, exp3 := shortToken(t, 200*time.Millisecond)
	conn3 := newFakeConn(tok3)
	var got3 error
	go func() {
		done <- ic.WrapStreamingHandler(func(ctx context.Context, sc connect.StreamingHandlerConn) error {
			var m examplev1.ChatRequest
			got3 = sc.Receive(&m)
			if m.GetText() != "" {
				return errors.New("late message delivered")
			}
			return got3
		})(context.Background(), conn3)
	}()
	time.Sleep(time.Until(exp3.Add(50 * time.Millisecond)))
	select {
	case conn3.feed <- &examplev1.ChatRequest{Text: "late"}:
	case <-time.After(time.Second):
	}
	err := <-done
	wantAuthError(t, err, connect.CodeUnauthenticated, connectjwt.ReasonExpired)
	if !errors.Is(got3, connectjwt.ErrExpired) {
		t.Errorf("handler's Receive returned %v", got3)
	}
	close(conn3.closed)
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
		for _, p := range protocols {
			for range perProtocol {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, exp := shortCall(t, 700*time.Millisecond, 8*time.Second)
					st := s.client(p).Chat(ctx)
					defer st.CloseResponse()
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
					if reasonOf(err) == connectjwt.ReasonExpired && time.Since(exp) < 1500*time.Millisecond {
						expired.Add(1)
					}
				}()
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
	tok := mintHS256(t, jwt.MapClaims{"sub": testSubject, "iss": testIssuer, "aud": testAudience, "exp": time.Now().Add(time.Hour).Unix()}, nil)
	for _, p := range protocols {
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
	tok, _ := shortToken(t, 200*time.Millisecond)
	conn := newFakeConn(tok)
	defer close(conn.closed)
	err := ic.WrapStreamingHandler(func(ctx context.Context, sc connect.StreamingHandlerConn) error {
		var m examplev1.ChatRequest
		return sc.Receive(&m) // blocks until expiry
	})(context.Background(), conn)
	wantAuthError(t, err, connect.CodeUnauthenticated, connectjwt.ReasonExpired)
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
	for i := 0; i < 1000; i++ { // ~256 MB at most: far more than any buffer
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
	for _, p := range protocols {
		cases = append(cases, transport{"h2/" + p.name, p, func(s *testServer) *http.Client { return s.http }})
	}
	cases = append(cases, transport{"http1/connect", protocols[0], func(*testServer) *http.Client { return http1 }})
	// Media types are case-insensitive; connect-go serves this one.
	shouting := &http.Client{Transport: headerTransport{&contentTypeTransport{"Application/Connect+proto", http.DefaultTransport}}}
	cases = append(cases, transport{"http1/connect, Application/Connect+proto", protocols[0], func(*testServer) *http.Client { return shouting }})
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
				tok, exp := shortToken(t, 2*time.Second)
				ctx, cancel := context.WithCancel(withBearer(context.Background(), tok))
				defer cancel()
				openStream(t, ctx, examplev1connect.NewProtectedServiceClient(tc.client(s), s.URL, tc.p.opts...))
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
	tok, _ := shortToken(t, time.Hour)
	ctx := withBearer(context.Background(), tok)
	for _, p := range protocols {
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
	tok, _ := shortToken(t, time.Hour)
	ctx, cancel := context.WithCancel(withBearer(context.Background(), tok))
	defer cancel()
	start := time.Now()
	openStream(t, ctx, examplev1connect.NewProtectedServiceClient(hc, "http://"+ln.Addr().String()))
	select {
	case end := <-svc.done:
		if d := end.Sub(start); d > 5*time.Second {
			t.Errorf("released after %v; the server's WriteTimeout is 2s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the StreamDeadlines's deadline replaced the server's WriteTimeout")
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
	for _, p := range protocols {
		for _, silent := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/silent=%v", p.name, silent), func(t *testing.T) {
				t.Parallel()
				store := connectjwt.NewMemoryStore()
				ic := newInterceptor(t, connectjwt.WithRevocationStore(store), connectjwt.WithStreamRevocationCheck(100*time.Millisecond))
				s := startLife(t, ic, &lifeSvc{silent: silent, tick: 20 * time.Millisecond})
				c := claimsAt(time.Now(), time.Hour)
				c["jti"] = "stream-" + p.name + fmt.Sprint(silent)
				tok := mintHS256(t, c, nil)
				ctx, cancel := context.WithTimeout(withBearer(context.Background(), tok), 10*time.Second)
				defer cancel()
				stream := openStream(t, ctx, s.client(p))
				err := drainAfter(t, stream, func() {
					if err := store.RevokeToken(context.Background(), &connectjwt.Claims{ID: c["jti"].(string), Identity: "x", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
						t.Fatal(err)
					}
				})
				wantAuthError(t, err, connect.CodeUnauthenticated, connectjwt.ReasonRevoked)
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
		{"panics", func() (bool, error) { panic("store bug") }},
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
			stream := openStream(t, ctx, s.client(protocols[0]))
			err := drainAfter(t, stream, func() { down.Store(true) })
			wantAuthError(t, err, connect.CodeUnavailable, connectjwt.ReasonUnavailable)
		})
	}

	// Off: the stream outlives a revocation.
	store := connectjwt.NewMemoryStore()
	off := newInterceptor(t, connectjwt.WithRevocationStore(store), connectjwt.WithStreamRevocationCheck(0))
	s := startLife(t, off, &lifeSvc{silent: true})
	c := claimsAt(time.Now(), time.Hour)
	c["jti"] = "kept"
	ctx, cancel := context.WithCancel(withBearer(context.Background(), mintHS256(t, c, nil)))
	defer cancel()
	stream := openStream(t, ctx, s.client(protocols[0]))
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
	<-ended
}

// openStream starts ProtectedStream (asking for endless messages) and
// waits for its first message.
func openStream(t *testing.T, ctx context.Context, client examplev1connect.ProtectedServiceClient) *connect.ServerStreamForClient[examplev1.ProtectedStreamResponse] {
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
