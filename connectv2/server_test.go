package connectv2_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"connectrpc.com/connect/v2/connectinprocess"
	"connectrpc.com/connect/v2/connectproto"
	"github.com/golang-jwt/jwt/v5"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/connectv2"
	"github.com/connectjwt/connectjwt/connectv2/example/gen/example/v1/examplev1connect"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
)

//nolint:gochecknoglobals // read-only fixtures shared by the tests
var (
	testSecret  = []byte("0123456789abcdef0123456789abcdef")
	otherSecret = []byte("fedcba9876543210fedcba9876543210")
	rsaKey      = func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err) //nolint:forbidigo // no test can run without the fixture
		}
		return k
	}()
)

// newValidator returns a validator for tokens signed with testSecret (and
// RS256 tokens of rsaKey), with extra options.
func newValidator(tb testing.TB, opts ...connectjwt.ValidatorOption) *connectjwt.Validator {
	tb.Helper()
	base := []connectjwt.ValidatorOption{
		connectjwt.WithKey(connectjwt.HMACKey(testSecret)),
		connectjwt.WithKey(connectjwt.Key{Algorithm: "RS256", Material: &rsaKey.PublicKey}),
	}
	v, err := connectjwt.NewValidator(append(base, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// mint signs an access token for alice expiring after ttl; edit may change
// the token before it is signed.
func mint(tb testing.TB, ttl time.Duration, edit func(*jwt.Token)) string {
	tb.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "iat": now.Unix(), "exp": now.Add(ttl).Unix(), "jti": rand.Text(),
	})
	tok.Header["typ"] = connectjwt.DefaultAccessTokenType
	key := any(testSecret)
	if edit != nil {
		edit(tok)
		if k, ok := tok.Header["_key"]; ok {
			key = k
			delete(tok.Header, "_key")
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// exampleService implements every stream shape and reports the identity
// from the context.
type exampleService struct {
	examplev1connect.UnimplementedProtectedServiceHandler
}

func identity(ctx context.Context) string {
	if c, ok := connectjwt.ClaimsFromContext(ctx); ok {
		return c.Identity
	}
	return "<anonymous>"
}

func (exampleService) Protected(ctx context.Context, _ *examplev1.ProtectedRequest) (*examplev1.ProtectedResponse, error) {
	return &examplev1.ProtectedResponse{Hello: "world", Identity: identity(ctx)}, nil
}

// ProtectedStream sends req.Count messages, or one every 20 ms until the
// context ends when Count is 0.
func (exampleService) ProtectedStream(ctx context.Context, req *examplev1.ProtectedStreamRequest, s examplev1connect.ProtectedServiceProtectedStreamServerStream) error {
	for i := int32(1); req.Count == 0 || i <= req.Count; i++ {
		if err := s.Send(&examplev1.ProtectedStreamResponse{Hello: "world", Sequence: i, Identity: identity(ctx)}); err != nil {
			return err
		}
		if req.Count == 0 {
			select {
			case <-ctx.Done():
				return connect.NewError(connect.CodeCanceled, "ended")
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

func (exampleService) Collect(ctx context.Context, s examplev1connect.ProtectedServiceCollectServerStream) (*examplev1.CollectResponse, error) {
	res := &examplev1.CollectResponse{Identity: identity(ctx)}
	for {
		msg, err := s.Receive()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return nil, err
		}
		res.Words = append(res.Words, msg.GetWord())
	}
}

func (exampleService) Chat(ctx context.Context, s examplev1connect.ProtectedServiceChatServerStream) error {
	for {
		msg, err := s.Receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.Send(&examplev1.ChatResponse{Text: msg.GetText(), Identity: identity(ctx)}); err != nil {
			return err
		}
	}
}

// countingCodec is the protobuf binary codec counting the request messages
// the server decodes.
type countingCodec struct {
	*connectproto.BinaryCodec

	decoded *atomic.Int64
}

func (c countingCodec) UnmarshalRead(ctx context.Context, src io.Reader, msg any) error {
	c.decoded.Add(1)
	return c.BinaryCodec.UnmarshalRead(ctx, src, msg)
}

// testServer is the example service behind the v2 interceptor on a loopback
// HTTP/2 server, with connectjwt.StreamDeadlines around the mux.
type testServer struct {
	url     string
	client  *http.Client
	server  *connect.Server
	decoded atomic.Int64
}

func startServer(t *testing.T, v *connectjwt.Validator, opts ...connectv2.Option) *testServer {
	t.Helper()
	ts := &testServer{}
	ts.server = connect.NewServer(connectv2.NewServerInterceptor(v, opts...))
	examplev1connect.RegisterProtectedServiceHandler(ts.server, exampleService{})
	mux := http.NewServeMux()
	connecthttp.Mount(mux, ts.server, connecthttp.WithCodecs(countingCodec{connectproto.NewBinaryCodec(), &ts.decoded}))
	srv := httptest.NewUnstartedServer(connectjwt.StreamDeadlines(mux))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ts.url, ts.client = srv.URL, srv.Client()
	return ts
}

//nolint:gochecknoglobals // a read-only test table
var protocols = []struct {
	name string
	opts []connecthttp.Option
}{
	{"connect", nil},
	{"grpc", []connecthttp.Option{connecthttp.WithGRPC()}},
	{"grpcweb", []connecthttp.Option{connecthttp.WithGRPCWeb()}},
}

// withHeader is a client interceptor that sends values as the
// Authorization header (none when values is empty).
func withHeader(values ...string) connect.ClientInterceptor {
	return func(next connect.ClientFunc) connect.ClientFunc {
		return func(ctx context.Context, spec connect.Spec) (connect.ClientStream, error) {
			info, ok := connect.CallInfoForClientContext(ctx)
			if !ok {
				ctx, info = connect.NewClientContext(ctx)
			}
			if len(values) > 0 {
				info.RequestHeader().SetValues("Authorization", values)
			}
			return next(ctx, spec)
		}
	}
}

func bearer(tok string) connect.ClientInterceptor { return withHeader("Bearer " + tok) }

// shapes calls each stream shape once and returns the identity the server
// saw, or the error.
//
//nolint:gochecknoglobals // a read-only test table
var shapes = []struct {
	name string
	call func(ctx context.Context, c examplev1connect.ProtectedServiceClient) (string, error)
}{
	{"unary", func(ctx context.Context, c examplev1connect.ProtectedServiceClient) (string, error) {
		res, err := c.Protected(ctx, &examplev1.ProtectedRequest{})
		return res.GetIdentity(), err
	}},
	{"server", func(ctx context.Context, c examplev1connect.ProtectedServiceClient) (string, error) {
		s, err := c.ProtectedStream(ctx, &examplev1.ProtectedStreamRequest{Count: 3})
		if err != nil {
			return "", err
		}
		defer s.Close()
		var id string
		for n := 0; ; n++ {
			msg, err := s.Receive()
			if errors.Is(err, io.EOF) {
				if n != 3 {
					return "", errors.New("want 3 messages")
				}
				return id, nil
			}
			if err != nil {
				return "", err
			}
			id = msg.GetIdentity()
		}
	}},
	{"client", func(ctx context.Context, c examplev1connect.ProtectedServiceClient) (string, error) {
		s, err := c.Collect(ctx)
		if err != nil {
			return "", err
		}
		for _, w := range []string{"a", "b"} {
			if err := s.Send(&examplev1.CollectRequest{Word: w}); err != nil && !errors.Is(err, io.EOF) {
				return "", err
			}
		}
		res, err := s.CloseAndReceive()
		if err == nil && strings.Join(res.GetWords(), ",") != "a,b" {
			return "", errors.New("words lost")
		}
		return res.GetIdentity(), err
	}},
	{"bidi", func(ctx context.Context, c examplev1connect.ProtectedServiceClient) (string, error) {
		s, err := c.Chat(ctx)
		if err != nil {
			return "", err
		}
		defer s.Close()
		if err := s.Send(&examplev1.ChatRequest{Text: "hi"}); err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		msg, err := s.Receive()
		if err != nil {
			return "", err
		}
		if msg.GetText() != "hi" {
			return "", errors.New("echo lost")
		}
		if err := s.CloseSend(); err != nil {
			return "", err
		}
		if _, err := s.Receive(); !errors.Is(err, io.EOF) {
			return "", err
		}
		return msg.GetIdentity(), nil
	}},
}

// reasonOf returns the code and the AuthError reason of a v2 error.
func reasonOf(tb testing.TB, err error) (connect.Code, connectjwtv1.Reason) {
	tb.Helper()
	if err == nil {
		return 0, connectjwtv1.Reason_REASON_UNSPECIFIED
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return connect.CodeOf(err), connectjwtv1.Reason_REASON_UNSPECIFIED
	}
	ae, ok := connectv2.AuthErrorOf(err)
	if !ok {
		return ce.Code(), connectjwtv1.Reason_REASON_UNSPECIFIED
	}
	if ae.GetMessage() != ce.Message() {
		tb.Errorf("AuthError message %q differs from the error's %q", ae.GetMessage(), ce.Message())
	}
	return ce.Code(), ae.GetReason()
}

func TestServerInterceptorMatrix(t *testing.T) {
	v := newValidator(t)
	ts := startServer(t, v)
	good := mint(t, time.Hour, nil)
	expired := mint(t, -time.Hour, nil)
	for _, p := range protocols {
		for _, sh := range shapes {
			t.Run(p.name+"/"+sh.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				transport := connecthttp.NewTransport(ts.client, ts.url, p.opts...)
				ok := examplev1connect.NewProtectedServiceClient(connect.NewClient(transport, bearer(good)))
				id, err := sh.call(ctx, ok)
				if err != nil || id != "alice" {
					t.Fatalf("valid token: identity %q, err %v", id, err)
				}
				for _, bad := range []struct {
					name   string
					ic     connect.ClientInterceptor
					code   connect.Code
					reason connectjwtv1.Reason
				}{
					{"missing", withHeader(), connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_MISSING},
					{"expired", bearer(expired), connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_EXPIRED},
				} {
					c := examplev1connect.NewProtectedServiceClient(connect.NewClient(transport, bad.ic))
					before := ts.decoded.Load()
					_, err := sh.call(ctx, c)
					if code, reason := reasonOf(t, err); code != bad.code || reason != bad.reason {
						t.Errorf("%s: got %v %v (%v), want %v %v", bad.name, code, reason, err, bad.code, bad.reason)
					}
					if n := ts.decoded.Load() - before; n != 0 {
						t.Errorf("%s: server decoded %d request messages of a refused call", bad.name, n)
					}
				}
			})
		}
	}
}

func TestServerInterceptorInProcess(t *testing.T) {
	v := newValidator(t)
	server := connect.NewServer(connectv2.NewServerInterceptor(v))
	examplev1connect.RegisterProtectedServiceHandler(server, exampleService{})
	good := mint(t, time.Hour, nil)
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c := examplev1connect.NewProtectedServiceClient(connect.NewClient(connectinprocess.New(server), bearer(good)))
			if id, err := sh.call(ctx, c); err != nil || id != "alice" {
				t.Fatalf("valid token: identity %q, err %v", id, err)
			}
			c = examplev1connect.NewProtectedServiceClient(connect.NewClient(connectinprocess.New(server), bearer(good+"x")))
			_, err := sh.call(ctx, c)
			if sh.name == "server" && errors.Is(err, io.EOF) {
				// connect-go v2.0.2's CallServerStream returns the io.EOF of
				// its Send when the in-process server has already refused
				// the call, dropping the refusal; a raw stream reads it.
				err = rawServerStream(ctx, connect.NewClient(connectinprocess.New(server), bearer(good+"x")))
			}
			if code, reason := reasonOf(t, err); code != connect.CodeUnauthenticated || reason != connectjwtv1.Reason_REASON_INVALID_SIGNATURE {
				t.Errorf("forged: got %v %v (%v)", code, reason, err)
			}
		})
	}
}

// TestServerInterceptorRefusesBeforeReadingBody sends a body that is not a
// message at all: a server that decoded it would answer invalid_argument or
// internal, not unauthenticated.
func TestServerInterceptorRefusesBeforeReadingBody(t *testing.T) {
	ts := startServer(t, newValidator(t))
	for _, ct := range []string{"application/proto", "application/grpc", "application/grpc-web+proto"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.url+examplev1connect.ProtectedServiceProtectedProcedure, strings.NewReader("\xff\xff\xff\xff\xffnot a message"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ct)
		if ct == "application/grpc" {
			req.Header.Set("Te", "trailers")
		}
		res, err := ts.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		status := res.Header.Get("Grpc-Status") + res.Trailer.Get("Grpc-Status")
		switch ct {
		case "application/proto":
			if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"unauthenticated"`) {
				t.Errorf("%s: status %d body %q", ct, res.StatusCode, body)
			}
		case "application/grpc":
			if status != "16" {
				t.Errorf("%s: grpc-status %q", ct, status)
			}
		default:
			if !strings.Contains(string(body), "grpc-status: 16") && status != "16" {
				t.Errorf("%s: body %q", ct, body)
			}
		}
	}
	if n := ts.decoded.Load(); n != 0 {
		t.Errorf("server decoded %d messages", n)
	}
}

func TestServerInterceptorAttacks(t *testing.T) {
	v := newValidator(t)
	ts := startServer(t, v)
	der, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(mint(t, time.Hour, nil), ".")
	noneHeader := "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0" // {"alg":"none","typ":"at+jwt"}
	for _, tc := range []struct {
		name   string
		values []string
		reason connectjwtv1.Reason
	}{
		{"alg none", []string{"Bearer " + noneHeader + "." + parts[1] + "."}, connectjwtv1.Reason_REASON_INVALID_ALGORITHM},
		{"HS256 signed with the RSA public key", []string{"Bearer " + mint(t, time.Hour, func(tk *jwt.Token) { tk.Header["_key"] = der })}, connectjwtv1.Reason_REASON_INVALID_SIGNATURE},
		{"refresh token as access", []string{"Bearer " + mint(t, time.Hour, func(tk *jwt.Token) { tk.Header["typ"] = connectjwt.DefaultRefreshTokenType })}, connectjwtv1.Reason_REASON_WRONG_TOKEN_TYPE},
		{"expired", []string{"Bearer " + mint(t, -time.Minute, nil)}, connectjwtv1.Reason_REASON_EXPIRED},
		{"forged signature", []string{"Bearer " + mint(t, time.Hour, func(tk *jwt.Token) { tk.Header["_key"] = otherSecret })}, connectjwtv1.Reason_REASON_INVALID_SIGNATURE},
		{"oversize header", []string{"Bearer " + strings.Repeat("a", 10<<10)}, connectjwtv1.Reason_REASON_MALFORMED},
		{"two Authorization headers", []string{"Bearer " + parts[0] + "." + parts[1] + "." + parts[2], "Bearer " + parts[0] + "." + parts[1] + "." + parts[2]}, connectjwtv1.Reason_REASON_MALFORMED},
	} {
		for _, p := range protocols {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				c := examplev1connect.NewProtectedServiceClient(connect.NewClient(connecthttp.NewTransport(ts.client, ts.url, p.opts...), withHeader(tc.values...)))
				_, err := c.Protected(t.Context(), &examplev1.ProtectedRequest{})
				code, reason := reasonOf(t, err)
				if code != connect.CodeUnauthenticated || reason != tc.reason {
					t.Errorf("got %v %v (%v), want unauthenticated %v", code, reason, err, tc.reason)
				}
				if err != nil && strings.Contains(err.Error(), parts[2]) {
					t.Error("the error echoes the token")
				}
			})
		}
	}
}

// TestServerInterceptorUnconfigured: a nil or zero Validator refuses every
// call, good token or not, without a panic.
func TestServerInterceptorUnconfigured(t *testing.T) {
	for name, v := range map[string]*connectjwt.Validator{"nil": nil, "zero": new(connectjwt.Validator)} {
		t.Run(name, func(t *testing.T) {
			server := connect.NewServer(connectv2.NewServerInterceptor(v))
			examplev1connect.RegisterProtectedServiceHandler(server, exampleService{})
			c := examplev1connect.NewProtectedServiceClient(connect.NewClient(connectinprocess.New(server), bearer(mint(t, time.Hour, nil))))
			_, err := c.Protected(t.Context(), &examplev1.ProtectedRequest{})
			if code, _ := reasonOf(t, err); code != connect.CodeUnauthenticated {
				t.Errorf("got %v", err)
			}
		})
	}
}

// rawServerStream calls ProtectedStream without the generated client's
// CallServerStream and returns the error of the first Receive.
func rawServerStream(ctx context.Context, c *connect.Client) error {
	s, err := c.CallClientStream(ctx, connect.Spec{StreamType: connect.StreamTypeServer, Procedure: examplev1connect.ProtectedServiceProtectedStreamProcedure})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Send(&examplev1.ProtectedStreamRequest{Count: 1}); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	return s.Receive(new(examplev1.ProtectedStreamResponse))
}
