package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/auth0/go-jwt-middleware/v2/validator"
	"github.com/golang-jwt/jwt/v5"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
)

// streamMessages is how many messages each server-stream call receives.
const streamMessages = 3

// impls are the ways of protecting the service, in table order: the first
// (no auth at all) is benchstat's baseline for the round-trip ratios. The
// second is the same baseline again, an A/A control: its ratio to the first
// is what the method measures when there is no difference at all.
func impls() []string {
	return append([]string{"none", "none-control", "connectjwt-nocache", "connectjwt-cache", "handwritten", "auth0"}, v2Impls()...)
}

// Flags for bench/run.sh. -impls picks the implementations to compare;
// -rotate starts them at a different one each round, so that over the
// rounds each runs first, second, … equally often and none gains or loses
// from its position. (Position matters: a benchmark that runs right after
// another inherits its heap and scheduler state, and on this machine that
// alone moved a round trip by about 4 %.)
//
//nolint:gochecknoglobals // test flags: registered before testing parses the command line
var (
	implsFlag = flag.String("impls", "", "comma-separated implementations to run (default: all)")
	rotate    = flag.Int("rotate", 0, "run the implementations starting at the rotate-th (mod their number)")
	// The server's connect.WithCompressMinBytes. connect-go's default, 0,
	// gzips every response however small, and the reported full run keeps
	// it: it is what a server gets out of the box and what issue #6's
	// numbers were measured with. For this service's 20-byte answers that
	// is pure cost: resetting the pooled gzip writer clears some 640 KB
	// twice per message, about half of a loopback round trip, and flushes
	// the core's caches, so whatever a protection keeps in memory is read
	// cold. -compressminbytes 1024 (what connect-go's documentation
	// suggests for small messages) measures the round trips without it,
	// where a protection's fixed cost is a larger share.
	compressMinBytes = flag.Int("compressminbytes", 0, "server: connect.WithCompressMinBytes (0, connect's default, gzips every response)")
)

// orderedImpls returns the implementations chosen by -impls, rotated by
// -rotate.
func orderedImpls(tb testing.TB) []string {
	tb.Helper()
	all := impls()
	list := all
	if *implsFlag != "" {
		list = strings.Split(*implsFlag, ",")
		for _, impl := range list {
			if !slices.Contains(all, impl) {
				tb.Fatalf("-impls: unknown implementation %q (have %v)", impl, all)
			}
		}
	}
	n := len(list)
	r := ((*rotate % n) + n) % n
	return append(append([]string(nil), list[r:]...), list[:r]...)
}

// service is example.v1.ProtectedService as the example implements it: it
// answers with the caller's identity, read the way each impl stores it.
type service struct {
	examplev1connect.UnimplementedProtectedServiceHandler

	identity func(context.Context) string
}

func (s *service) Protected(ctx context.Context, _ *connect.Request[examplev1.ProtectedRequest]) (*connect.Response[examplev1.ProtectedResponse], error) {
	return connect.NewResponse(&examplev1.ProtectedResponse{Hello: "world", Identity: s.identity(ctx)}), nil
}

func (s *service) ProtectedStream(ctx context.Context, req *connect.Request[examplev1.ProtectedStreamRequest], stream *connect.ServerStream[examplev1.ProtectedStreamResponse]) error {
	id := s.identity(ctx)
	for i := int32(1); i <= req.Msg.GetCount(); i++ {
		if err := stream.Send(&examplev1.ProtectedStreamResponse{Hello: "world", Sequence: i, Identity: id}); err != nil {
			return err
		}
	}
	return nil
}

// Chat echoes every message with the caller's identity, for the bidi
// round trip.
func (s *service) Chat(ctx context.Context, stream *connect.BidiStream[examplev1.ChatRequest, examplev1.ChatResponse]) error {
	id := s.identity(ctx)
	for {
		msg, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&examplev1.ChatResponse{Text: msg.GetText(), Identity: id}); err != nil {
			return err
		}
	}
}

// fixedIdentity is the baseline's answer: the same identity the protected
// implementations read from the token, as a constant. Every implementation
// then sends the same response bytes and the client decodes the same
// strings, so the differences measured are the protection alone.
func fixedIdentity(context.Context) string { return benchSubject }

func connectjwtIdentity(ctx context.Context) string {
	id, _ := connectjwt.IdentityFromContext(ctx)
	return id
}

// newHandler returns the service protected by impl for alg's fixture.
func newHandler(tb testing.TB, impl string, f *fixture) http.Handler {
	tb.Helper()
	mux := http.NewServeMux()
	switch impl {
	case "none", "none-control":
		mux.Handle(examplev1connect.NewProtectedServiceHandler(&service{identity: fixedIdentity}, serverOptions()))
	case "connectjwt-nocache", "connectjwt-cache":
		v, err := connectjwt.NewValidator(f.shared(), cacheOption(impl == "connectjwt-cache"))
		if err != nil {
			tb.Fatal(err)
		}
		auth := connectjwt.NewInterceptor(v)
		mux.Handle(examplev1connect.NewProtectedServiceHandler(&service{identity: connectjwtIdentity}, auth.HandlerOption(), serverOptions()))
	case "handwritten":
		hw := newHandwritten(f)
		mux.Handle(examplev1connect.NewProtectedServiceHandler(&service{identity: hw.identity}, connect.WithInterceptors(hw), serverOptions()))
	case "auth0":
		mux.Handle(auth0Handler(tb, f))
	default:
		h, ok := newV2Handler(tb, impl, f)
		if !ok {
			tb.Fatalf("unknown impl %s", impl)
		}
		return h
	}
	return mux
}

// serverOptions are the handler options every implementation's service
// gets, after its own.
func serverOptions() connect.HandlerOption {
	return connect.WithCompressMinBytes(*compressMinBytes)
}

// handwritten is the interceptor most Connect users write from the docs:
// read the header, strip "Bearer ", jwt.Parse, put the claims in the
// context. It implements the whole connect.Interceptor so it also guards
// streams.
type handwritten struct {
	keyFunc jwt.Keyfunc
	opts    []jwt.ParserOption
}

type handwrittenKey struct{}

func newHandwritten(f *fixture) *handwritten {
	return &handwritten{
		keyFunc: func(*jwt.Token) (any, error) { return f.verify, nil },
		opts: []jwt.ParserOption{
			jwt.WithValidMethods([]string{f.alg}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuer(benchIssuer),
			jwt.WithAudience(benchAudience),
		},
	}
}

func (h *handwritten) check(ctx context.Context, header http.Header) (context.Context, error) {
	raw, ok := strings.CutPrefix(header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("missing token"))
	}
	tok, err := jwt.Parse(raw, h.keyFunc, h.opts...)
	if err != nil || !tok.Valid {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("invalid token"))
	}
	return context.WithValue(ctx, handwrittenKey{}, tok.Claims), nil
}

func (h *handwritten) identity(ctx context.Context) string {
	c, _ := ctx.Value(handwrittenKey{}).(jwt.Claims)
	if c == nil {
		return ""
	}
	sub, _ := c.GetSubject()
	return sub
}

func (h *handwritten) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		ctx, err := h.check(ctx, req.Header())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (h *handwritten) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (h *handwritten) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := h.check(ctx, conn.RequestHeader())
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

// auth0Handler wraps the Connect handler in auth0/go-jwt-middleware/v2, as
// its README shows for net/http.
func auth0Handler(tb testing.TB, f *fixture) (string, http.Handler) {
	tb.Helper()
	v, err := validator.New(
		func(context.Context) (any, error) { return f.verify, nil },
		validator.SignatureAlgorithm(f.alg),
		benchIssuer,
		[]string{benchAudience},
	)
	if err != nil {
		tb.Fatal(err)
	}
	identity := func(ctx context.Context) string {
		c, _ := ctx.Value(jwtmiddleware.ContextKey{}).(*validator.ValidatedClaims)
		if c == nil {
			return ""
		}
		return c.RegisteredClaims.Subject
	}
	path, h := examplev1connect.NewProtectedServiceHandler(&service{identity: identity}, serverOptions())
	return path, jwtmiddleware.New(v.ValidateToken).CheckJWT(h)
}

// startServer serves h over cleartext HTTP/2 on loopback and returns a
// client for it; both are closed when the benchmark ends.
func startServer(tb testing.TB, h http.Handler) examplev1connect.ProtectedServiceClient {
	tb.Helper()
	srv := httptest.NewUnstartedServer(h)
	var sp http.Protocols
	sp.SetHTTP1(true)
	sp.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &sp
	srv.Config.ReadHeaderTimeout = 10 * time.Second
	srv.Start()
	tb.Cleanup(srv.Close)
	var cp http.Protocols
	cp.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &cp, MaxIdleConnsPerHost: 64}
	tb.Cleanup(tr.CloseIdleConnections)
	return examplev1connect.NewProtectedServiceClient(&http.Client{Transport: tr, Timeout: 30 * time.Second}, srv.URL)
}

// call is one round trip of the benchmarked shape.
type call func(ctx context.Context, client examplev1connect.ProtectedServiceClient, token string) error

func unaryCall(ctx context.Context, client examplev1connect.ProtectedServiceClient, token string) error {
	req := connect.NewRequest(&examplev1.ProtectedRequest{})
	req.Header().Set("Authorization", "Bearer "+token)
	res, err := client.Protected(ctx, req)
	if err != nil {
		return err
	}
	if res.Msg.GetHello() != "world" {
		return errors.New("bad response")
	}
	return nil
}

func streamCall(ctx context.Context, client examplev1connect.ProtectedServiceClient, token string) error {
	req := connect.NewRequest(&examplev1.ProtectedStreamRequest{Count: streamMessages})
	req.Header().Set("Authorization", "Bearer "+token)
	stream, err := client.ProtectedStream(ctx, req)
	if err != nil {
		return err
	}
	n := 0
	for stream.Receive() {
		n++
	}
	if err := stream.Err(); err != nil {
		return err
	}
	if n != streamMessages {
		return errors.New("short stream")
	}
	return stream.Close()
}

// bidiCall is a bidi stream of streamMessages request/response pairs,
// each Send answered before the next: every message goes through the
// interceptor's Receive and Send.
func bidiCall(ctx context.Context, client examplev1connect.ProtectedServiceClient, token string) error {
	stream := client.Chat(ctx)
	stream.RequestHeader().Set("Authorization", "Bearer "+token)
	for range streamMessages {
		if err := stream.Send(&examplev1.ChatRequest{Text: "hi"}); err != nil {
			return err
		}
		res, err := stream.Receive()
		if err != nil {
			return err
		}
		if res.GetIdentity() != benchSubject {
			return errors.New("bad response")
		}
	}
	if err := stream.CloseRequest(); err != nil {
		return err
	}
	if _, err := stream.Receive(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("end of stream: %w", err)
	}
	return stream.CloseResponse()
}

// runRoundTrips runs shape for every alg and impl, serially and with
// RunParallel. Every sub-benchmark starts its own server and stops it.
func runRoundTrips(b *testing.B, shape call) {
	b.Helper()
	for _, mode := range []string{"serial", "parallel"} {
		for _, alg := range algs() {
			f := fixtureFor(b, alg)
			for _, impl := range orderedImpls(b) {
				b.Run("mode="+mode+"/alg="+alg+"/impl="+impl, func(b *testing.B) {
					client := startServer(b, newHandler(b, impl, f))
					ctx := context.Background()
					if err := shape(ctx, client, f.token); err != nil { // warm up: connection, cache
						b.Fatal(err)
					}
					b.ReportAllocs()
					b.ResetTimer()
					if mode == "serial" {
						for b.Loop() {
							if err := shape(ctx, client, f.token); err != nil {
								b.Fatal(err)
							}
						}
						return
					}
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := shape(ctx, client, f.token); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			}
		}
	}
}

// BenchmarkUnary is a unary round trip (client and server in this process,
// over loopback HTTP/2), for each way of protecting the service.
func BenchmarkUnary(b *testing.B) { runRoundTrips(b, unaryCall) }

// BenchmarkServerStream is a server-stream round trip of streamMessages
// messages.
func BenchmarkServerStream(b *testing.B) { runRoundTrips(b, streamCall) }

// BenchmarkBidiStream is a bidi round trip of streamMessages messages each
// way, so that the interceptor's Receive is measured as well as its Send.
func BenchmarkBidiStream(b *testing.B) { runRoundTrips(b, bidiCall) }

// BenchmarkHandler is the server side of a unary call alone: the request is
// handed to the handler in process (httptest, no network, no client), so
// the cost of each way of protecting the service stands out from the
// noise of a loopback round trip.
func BenchmarkHandler(b *testing.B) {
	for _, alg := range algs() {
		f := fixtureFor(b, alg)
		for _, impl := range orderedImpls(b) {
			b.Run("alg="+alg+"/impl="+impl, func(b *testing.B) {
				h := newHandler(b, impl, f)
				serve := func() {
					req := httptest.NewRequest(http.MethodPost, examplev1connect.ProtectedServiceProtectedProcedure, http.NoBody) //nolint:noctx // the handler is measured as BENCHMARKS.md reports it; a context would add an allocation
					req.Header.Set("Content-Type", "application/proto")
					req.Header.Set("Authorization", "Bearer "+f.token)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
				serve()
				b.ReportAllocs()
				for b.Loop() {
					serve()
				}
			})
		}
	}
}
