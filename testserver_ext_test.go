package connectjwt_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
)

// ---------------------------------------------------------------------------
// The service under test.

// testService implements examplev1connect.ProtectedServiceHandler. Every reply
// carries the identity from IdentityFromContext (or anonymous), and it counts
// calls and calls without claims.
type testService struct {
	calls      atomic.Int64
	anonCalls  atomic.Int64
	streamWait time.Duration // pause before each server-stream message

	mu       sync.Mutex
	received []time.Time // when each client message reached the handler
}

func (s *testService) gotMessage() {
	s.mu.Lock()
	s.received = append(s.received, time.Now())
	s.mu.Unlock()
}

// lastReceived is when the handler last got a client message.
func (s *testService) lastReceived() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.received) == 0 {
		return time.Time{}
	}
	return s.received[len(s.received)-1]
}

var _ examplev1connect.ProtectedServiceHandler = (*testService)(nil)

func (s *testService) identity(ctx context.Context) string {
	s.calls.Add(1)
	c, ok := connectjwt.ClaimsFromContext(ctx)
	id, idOK := connectjwt.IdentityFromContext(ctx)
	if ok != idOK || (ok && c.Identity != id) {
		return "<ClaimsFromContext and IdentityFromContext disagree>" // fails every identity check
	}
	if !ok {
		s.anonCalls.Add(1)
		return anonymous
	}
	return id
}

func (s *testService) Protected(ctx context.Context, _ *connect.Request[examplev1.ProtectedRequest]) (*connect.Response[examplev1.ProtectedResponse], error) {
	return connect.NewResponse(&examplev1.ProtectedResponse{Hello: "world", Identity: s.identity(ctx)}), nil
}

func (s *testService) ProtectedStream(ctx context.Context, req *connect.Request[examplev1.ProtectedStreamRequest], stream *connect.ServerStream[examplev1.ProtectedStreamResponse]) error {
	id := s.identity(ctx)
	n := min(max(req.Msg.GetCount(), 3), 100)
	for i := int32(1); i <= n; i++ {
		if s.streamWait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(s.streamWait):
			}
		}
		if err := stream.Send(&examplev1.ProtectedStreamResponse{Hello: "world", Sequence: i, Identity: id}); err != nil {
			return err
		}
	}
	return nil
}

func (s *testService) Collect(ctx context.Context, stream *connect.ClientStream[examplev1.CollectRequest]) (*connect.Response[examplev1.CollectResponse], error) {
	id := s.identity(ctx)
	var words []string
	for stream.Receive() {
		s.gotMessage()
		words = append(words, stream.Msg().GetWord())
	}
	if err := stream.Err(); err != nil {
		return nil, err
	}
	return connect.NewResponse(&examplev1.CollectResponse{Words: words, Identity: id}), nil
}

func (s *testService) Chat(ctx context.Context, stream *connect.BidiStream[examplev1.ChatRequest, examplev1.ChatResponse]) error {
	id := s.identity(ctx)
	for {
		msg, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		s.gotMessage()
		if err := stream.Send(&examplev1.ChatResponse{Text: msg.GetText(), Identity: id}); err != nil {
			return err
		}
	}
}

// ---------------------------------------------------------------------------
// Server and clients.

type testServer struct {
	URL  string
	svc  *testService
	http *http.Client // HTTP/2 cleartext (prior knowledge) with per-call headers
}

// mountMode says how the interceptor is installed.
type mountMode int

const (
	mountGate        mountMode = iota // interceptor.HandlerOption(): gate + interceptor
	mountInterceptor                  // connect.WithInterceptors(interceptor) only
)

func (m mountMode) String() string {
	if m == mountGate {
		return "gate"
	}
	return "interceptor-only"
}

// startServer serves a testService protected by ic on 127.0.0.1 over HTTP/1.1
// and h2c.
func startServer(tb testing.TB, ic *connectjwt.Interceptor, mode mountMode, svc *testService) *testServer {
	tb.Helper()
	if svc == nil {
		svc = &testService{}
	}
	var opt connect.HandlerOption = connect.WithInterceptors(ic)
	if mode == mountGate {
		opt = ic.HandlerOption()
	}
	path, h := examplev1connect.NewProtectedServiceHandler(svc, opt)
	mux := http.NewServeMux()
	// As the documentation asks: the deadlines that release a stream
	// blocked on a silent client at expiry.
	mux.Handle(path, connectjwt.StreamDeadlines(h))

	srv := httptest.NewUnstartedServer(mux)
	if host, _, _ := net.SplitHostPort(srv.Listener.Addr().String()); host != "127.0.0.1" {
		srv.Listener.Close()
		l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		srv.Listener = l
	}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &p
	srv.Config.ReadHeaderTimeout = 10 * time.Second
	srv.Start()
	tb.Cleanup(srv.Close)

	var cp http.Protocols
	cp.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &cp}
	tb.Cleanup(tr.CloseIdleConnections)
	return &testServer{
		URL:  srv.URL,
		svc:  svc,
		http: &http.Client{Transport: headerTransport{tr}},
	}
}

// headerTransport adds the headers stored in the request context by
// withHeaders, so every RPC shape can carry a token the same way.
type headerTransport struct{ base http.RoundTripper }

type headersKey struct{}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if extra, ok := r.Context().Value(headersKey{}).(http.Header); ok {
		r = r.Clone(r.Context())
		for k, vs := range extra {
			r.Header.Del(k)
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
	}
	return h.base.RoundTrip(r)
}

// withHeaders makes calls under ctx send h.
func withHeaders(ctx context.Context, h http.Header) context.Context {
	return context.WithValue(ctx, headersKey{}, h)
}

// withBearer makes calls under ctx send "Authorization: Bearer tok"; an empty
// tok sends no header.
func withBearer(ctx context.Context, tok string) context.Context {
	if tok == "" {
		return ctx
	}
	return withHeaders(ctx, http.Header{"Authorization": {"Bearer " + tok}})
}

type protocol struct {
	name string
	opts []connect.ClientOption
}

func protocols() []protocol {
	return []protocol{
		{"connect", nil},
		{"grpc", []connect.ClientOption{connect.WithGRPC()}},
		{"grpcweb", []connect.ClientOption{connect.WithGRPCWeb()}},
	}
}

func (s *testServer) client(p protocol) examplev1connect.ProtectedServiceClient {
	return examplev1connect.NewProtectedServiceClient(s.http, s.URL, p.opts...)
}

// shape is an RPC shape of ProtectedService.
type shape int

const (
	unary shape = iota
	serverStream
	clientStream
	bidiStream
)

func shapes() []shape {
	return []shape{unary, serverStream, clientStream, bidiStream}
}

func (s shape) String() string {
	return [...]string{"unary", "server-stream", "client-stream", "bidi"}[s]
}

func (s shape) procedure() string {
	return [...]string{
		examplev1connect.ProtectedServiceProtectedProcedure,
		examplev1connect.ProtectedServiceProtectedStreamProcedure,
		examplev1connect.ProtectedServiceCollectProcedure,
		examplev1connect.ProtectedServiceChatProcedure,
	}[s]
}

func allProcedures() []string {
	return []string{
		examplev1connect.ProtectedServiceProtectedProcedure,
		examplev1connect.ProtectedServiceProtectedStreamProcedure,
		examplev1connect.ProtectedServiceCollectProcedure,
		examplev1connect.ProtectedServiceChatProcedure,
	}
}

// callTimeout bounds every RPC a test makes.
const callTimeout = 5 * time.Second

// call makes one RPC of shape sh and returns the identities in the replies
// (one per reply message) and the error where a Go client sees it.
func call(ctx context.Context, c examplev1connect.ProtectedServiceClient, sh shape) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	switch sh {
	case unary:
		res, err := c.Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{}))
		if err != nil {
			return nil, err
		}
		if res.Msg.GetHello() != "world" {
			return nil, errors.New("bad reply")
		}
		return []string{res.Msg.GetIdentity()}, nil
	case serverStream:
		st, err := c.ProtectedStream(ctx, connect.NewRequest(&examplev1.ProtectedStreamRequest{Count: 3}))
		if err != nil {
			return nil, err
		}
		defer st.Close()
		var ids []string
		for st.Receive() {
			ids = append(ids, st.Msg().GetIdentity())
		}
		if err := st.Err(); err != nil {
			return ids, err
		}
		if len(ids) != 3 {
			return ids, errors.New("wrong number of messages")
		}
		return ids, nil
	case clientStream:
		st := c.Collect(ctx)
		for _, w := range []string{"a", "b"} {
			if err := st.Send(&examplev1.CollectRequest{Word: w}); err != nil {
				break // the server may have answered already; CloseAndReceive has the error
			}
		}
		res, err := st.CloseAndReceive()
		if err != nil {
			return nil, err
		}
		if strings.Join(res.Msg.GetWords(), ",") != "a,b" {
			return nil, errors.New("wrong words")
		}
		return []string{res.Msg.GetIdentity()}, nil
	case bidiStream:
		st := c.Chat(ctx)
		defer func() { _ = st.CloseResponse() }()
		var ids []string
		for _, w := range []string{"x", "y"} {
			_ = st.Send(&examplev1.ChatRequest{Text: w}) // may return nil or io.EOF on rejection
			msg, err := st.Receive()
			if err != nil {
				return ids, err
			}
			if msg.GetText() != w {
				return ids, errors.New("wrong echo")
			}
			ids = append(ids, msg.GetIdentity())
		}
		if err := st.CloseRequest(); err != nil {
			return ids, err
		}
		if _, err := st.Receive(); !errors.Is(err, io.EOF) {
			return ids, err
		}
		return ids, nil
	}
	return nil, fmt.Errorf("unknown shape %d", sh)
}

// wantIdentities checks a successful call's replies all carry want.
func wantIdentities(tb testing.TB, ids []string, err error, want string) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("call failed: %v", err)
	}
	if len(ids) == 0 {
		tb.Fatal("no replies")
	}
	for _, id := range ids {
		if id != want {
			tb.Fatalf("identity = %q, want %q", id, want)
		}
	}
}

// newInterceptor builds an interceptor with the shared HS256 key, the test
// issuer and audience, plus opts: each a connectjwt.ValidatorOption or a
// connectjwt.InterceptorOption (or a slice of either).
func newInterceptor(tb testing.TB, opts ...any) *connectjwt.Interceptor {
	tb.Helper()
	vopts, iopts := splitOptions(tb, opts)
	vopts = append([]connectjwt.ValidatorOption{
		connectjwt.WithKey(connectjwt.HMACKey(testKeys().hs256)),
		connectjwt.WithIssuer(testIssuer),
		connectjwt.WithAudience(testAudience),
	}, vopts...)
	return buildInterceptor(tb, vopts, iopts)
}

// splitOptions sorts test options into validator and interceptor options.
func splitOptions(tb testing.TB, opts []any) ([]connectjwt.ValidatorOption, []connectjwt.InterceptorOption) {
	tb.Helper()
	var vopts []connectjwt.ValidatorOption
	var iopts []connectjwt.InterceptorOption
	for _, o := range opts {
		switch o := o.(type) {
		case connectjwt.ValidatorOption:
			vopts = append(vopts, o)
		case connectjwt.InterceptorOption:
			iopts = append(iopts, o)
		case []connectjwt.Option:
			for _, x := range o {
				vopts = append(vopts, x)
			}
		case []connectjwt.ValidatorOption:
			vopts = append(vopts, o...)
		case []connectjwt.InterceptorOption:
			iopts = append(iopts, o...)
		case nil:
		default:
			tb.Fatalf("not an option: %T", o)
		}
	}
	return vopts, iopts
}

// interceptorFor is NewValidator with the validator options among opts and
// NewInterceptor with the rest.
func interceptorFor(tb testing.TB, opts ...any) (*connectjwt.Interceptor, error) {
	tb.Helper()
	vopts, iopts := splitOptions(tb, opts)
	v, err := connectjwt.NewValidator(vopts...)
	if err != nil {
		return nil, err
	}
	return connectjwt.NewInterceptor(v, iopts...), nil
}

// buildInterceptor builds a validator from vopts and an interceptor on it.
func buildInterceptor(tb testing.TB, vopts []connectjwt.ValidatorOption, iopts []connectjwt.InterceptorOption) *connectjwt.Interceptor {
	tb.Helper()
	v, err := connectjwt.NewValidator(vopts...)
	if err != nil {
		tb.Fatalf("NewValidator: %v", err)
	}
	return connectjwt.NewInterceptor(v, iopts...)
}

// serve starts mux on a loopback port with HTTP/1.1 and h2c and returns its
// base URL, an HTTP/2 client and a function that stops it.
func serve(mux *http.ServeMux) (string, *http.Client, func()) {
	srv := httptest.NewUnstartedServer(mux) // on 127.0.0.1
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &p
	srv.Config.ReadHeaderTimeout = 10 * time.Second
	srv.Start()
	var cp http.Protocols
	cp.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &cp}}
	return srv.URL, client, srv.Close
}

// send makes a plain HTTP request on client (http.DefaultClient if nil),
// with contentType when it is not empty.
func send(client *http.Client, method, url, contentType string, body io.Reader) (*http.Response, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return client.Do(req)
}
