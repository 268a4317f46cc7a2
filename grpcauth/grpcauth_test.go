package grpcauth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/grpcauth"
	policytestv1 "github.com/connectjwt/connectjwt/internal/gen/policytest/v1"
)

// secret is the HMAC key of every test: 32 bytes.
const secret = "gggggggggggggggggggggggggggggggg"

func identity(ctx context.Context) string {
	id, _ := connectjwt.IdentityFromContext(ctx)
	return id
}

// unary builds a hand-written grpc.MethodDesc (what protoc-gen-go-grpc
// would generate) whose handler answers with the caller's identity.
func unary[Req any, PReq interface {
	*Req
	proto.Message
}](name string, resp func(id string) proto.Message) grpc.MethodDesc {
	return grpc.MethodDesc{MethodName: name, Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		in := PReq(new(Req))
		if err := dec(in); err != nil {
			return nil, err
		}
		h := func(ctx context.Context, _ any) (any, error) { return resp(identity(ctx)), nil }
		if ic == nil {
			return h(ctx, in)
		}
		return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/policytest.v1.PolicyTestService/" + name}, h)
	}}
}

// policyService is a hand-written policytest.v1.PolicyTestService.
func policyService() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "policytest.v1.PolicyTestService",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			unary[policytestv1.DefaultRequest]("Default", func(id string) proto.Message { return &policytestv1.DefaultResponse{Identity: id} }),
			unary[policytestv1.PublicRequest]("Public", func(id string) proto.Message { return &policytestv1.PublicResponse{Identity: id} }),
			unary[policytestv1.OptionalRequest]("Optional", func(id string) proto.Message { return &policytestv1.OptionalResponse{Identity: id} }),
			unary[policytestv1.ScopedRequest]("Scoped", func(id string) proto.Message { return &policytestv1.ScopedResponse{Identity: id} }),
		},
	}
}

// chatService echoes every message, like example.v1's Chat. entered
// receives the handler's context once it runs, done its return value.
type chatService struct {
	entered chan context.Context
	done    chan error
}

func (c *chatService) desc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "example.v1.ProtectedService",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{
			{StreamName: "Chat", ServerStreams: true, ClientStreams: true, Handler: func(_ any, stream grpc.ServerStream) error {
				err := c.chat(stream)
				c.done <- err
				return err
			}},
			{StreamName: "Flood", ServerStreams: true, Handler: func(_ any, stream grpc.ServerStream) error {
				err := c.flood(stream)
				select {
				case c.done <- err:
				default: // a benchmark's earlier stream
				}
				return err
			}},
		},
	}
}

// flood reads one request, "<count> <size>", and sends count responses
// (without end when count is negative) of size bytes each.
func (c *chatService) flood(stream grpc.ServerStream) error {
	var req examplev1.ChatRequest
	if err := stream.RecvMsg(&req); err != nil {
		return err
	}
	var count, size int
	if _, err := fmt.Sscan(req.GetText(), &count, &size); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	select {
	case c.entered <- stream.Context():
	default: // a benchmark's earlier stream
	}
	resp := &examplev1.ChatResponse{Text: strings.Repeat("x", size)}
	for i := 0; count < 0 || i < count; i++ {
		if err := stream.SendMsg(resp); err != nil {
			return err
		}
	}
	return nil
}

func (c *chatService) chat(stream grpc.ServerStream) error {
	c.entered <- stream.Context()
	for {
		var req examplev1.ChatRequest
		if err := stream.RecvMsg(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := stream.SendMsg(&examplev1.ChatResponse{Text: req.GetText(), Identity: identity(stream.Context())}); err != nil {
			return err
		}
	}
}

// revokedFunc is a RevocationStore that answers IsRevoked with the function
// and ignores writes.
type revokedFunc func(ctx context.Context, c *connectjwt.Claims) (bool, error)

func (f revokedFunc) IsRevoked(ctx context.Context, c *connectjwt.Claims) (bool, error) {
	return f(ctx, c)
}

func (revokedFunc) RevokeToken(context.Context, *connectjwt.Claims) error { return nil }

func (revokedFunc) RevokeSession(context.Context, string, time.Time) error { return nil }

func (revokedFunc) RedeemRefreshToken(_ context.Context, _ *connectjwt.Claims, at time.Time) (bool, time.Time, error) {
	return true, at, nil
}

func (revokedFunc) RevokeIdentity(context.Context, string, time.Time, time.Time) error { return nil }

type fixture struct {
	conn *grpc.ClientConn
	chat *chatService
	// revokeLater, once set, revokes the tokens of "revoked-later".
	revokeLater *atomic.Bool
	// iss mints alice's tokens, living ttl (default when 0, expired when
	// negative) with this scope claim.
	iss func(ttl time.Duration, scope string) (access, refresh string)
	// as mints a valid access token with scope "base" for identity.
	as func(identity string) string
}

func start(tb testing.TB, opts ...grpcauth.Option) *fixture {
	tb.Helper()
	revokeLater := new(atomic.Bool)
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey([]byte(secret))), connectjwt.WithIssuer("https://issuer.test"),
		connectjwt.WithRevocationStore(revokedFunc(func(_ context.Context, c *connectjwt.Claims) (bool, error) {
			switch c.Identity {
			case "down":
				return false, errors.New("store down")
			case "revoked":
				return true, nil
			case "revoked-later":
				return revokeLater.Load(), nil
			}
			return false, nil
		})),
		connectjwt.WithStreamRevocationCheck(50*time.Millisecond),
		connectjwt.WithClaimsCheck(func(_ context.Context, _ string, c *connectjwt.Claims) error {
			if c.Identity == "mallory" {
				return errors.New("banned")
			}
			return nil
		}),
	)
	if err != nil {
		tb.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(grpcauth.UnaryServerInterceptor(v, opts...)),
		grpc.ChainStreamInterceptor(grpcauth.StreamServerInterceptor(v, opts...)),
	)
	chat := &chatService{entered: make(chan context.Context, 1), done: make(chan error, 1)}
	srv.RegisterService(policyService(), struct{}{})
	srv.RegisterService(chat.desc(), struct{}{})
	l, err := new(net.ListenConfig).Listen(tb.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	mint := func(ttl time.Duration, scope string) (string, string) {
		opts := []connectjwt.IssuerOption{connectjwt.WithKey(connectjwt.HMACKey([]byte(secret))), connectjwt.WithIssuer("https://issuer.test")}
		if ttl < 0 {
			past := time.Now().Add(ttl - time.Hour)
			opts = append(opts, connectjwt.WithClock(func() time.Time { return past }))
		} else if ttl > 0 {
			opts = append(opts, connectjwt.WithTokenLifetimes(ttl, time.Hour))
		}
		if scope != "" {
			opts = append(opts, connectjwt.WithExtraClaims(func(context.Context, string) (map[string]any, error) {
				return map[string]any{"scope": scope}, nil
			}))
		}
		is, err := connectjwt.NewIssuer(opts...)
		if err != nil {
			tb.Fatal(err)
		}
		pair, err := is.CreateTokenPair(context.Background(), "alice")
		if err != nil {
			tb.Fatal(err)
		}
		return pair.GetAccessToken(), pair.GetRefreshToken()
	}
	as := func(identity string) string {
		is, err := connectjwt.NewIssuer(connectjwt.WithKey(connectjwt.HMACKey([]byte(secret))), connectjwt.WithIssuer("https://issuer.test"),
			connectjwt.WithExtraClaims(func(context.Context, string) (map[string]any, error) { return map[string]any{"scope": "base"}, nil }))
		if err != nil {
			tb.Fatal(err)
		}
		tok, _, err := is.CreateAccessToken(context.Background(), identity)
		if err != nil {
			tb.Fatal(err)
		}
		return tok
	}
	return &fixture{conn: conn, chat: chat, revokeLater: revokeLater, iss: mint, as: as}
}

func bearer(ctx context.Context, tok string) context.Context {
	if tok == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// wantRefusal checks err's code and its AuthError detail.
func wantRefusal(t *testing.T, err error, code codes.Code, reason connectjwtv1.Reason) *connectjwtv1.AuthError {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
	for _, d := range st.Details() {
		if ae, ok := d.(*connectjwtv1.AuthError); ok {
			if ae.GetReason() != reason || ae.GetMessage() != st.Message() {
				t.Fatalf("detail = %v, want reason %s and message %q", ae, reason, st.Message())
			}
			return ae
		}
	}
	t.Fatalf("no AuthError detail in %v (details %v)", err, st.Details())
	return nil
}

func TestUnary(t *testing.T) {
	f := start(t)
	base, refresh := f.iss(0, "base")
	plain, _ := f.iss(0, "")
	expired, _ := f.iss(-time.Minute, "base")
	tests := []struct {
		name   string
		method string
		token  string
		code   codes.Code
		reason connectjwtv1.Reason
		id     string
		check  func(*connectjwtv1.AuthError) bool
	}{
		{name: "valid", method: "Default", token: base, id: "alice"},
		{name: "no token", method: "Default", code: codes.Unauthenticated, reason: connectjwtv1.Reason_REASON_MISSING},
		{name: "expired", method: "Default", token: expired, code: codes.Unauthenticated, reason: connectjwtv1.Reason_REASON_EXPIRED,
			check: func(ae *connectjwtv1.AuthError) bool { return ae.GetExpiredAt() != nil }},
		{name: "refresh token", method: "Default", token: refresh, code: codes.Unauthenticated, reason: connectjwtv1.Reason_REASON_WRONG_TOKEN_TYPE},
		{name: "garbage", method: "Default", token: "a.b.c", code: codes.Unauthenticated, reason: connectjwtv1.Reason_REASON_MALFORMED},
		{name: "service policy from .proto", method: "Default", token: plain, code: codes.PermissionDenied, reason: connectjwtv1.Reason_REASON_INSUFFICIENT_SCOPE,
			check: func(ae *connectjwtv1.AuthError) bool {
				return len(ae.GetMissingScopes()) == 1 && ae.GetMissingScopes()[0] == "base"
			}},
		{name: "method scopes from .proto", method: "Scoped", token: base, code: codes.PermissionDenied, reason: connectjwtv1.Reason_REASON_INSUFFICIENT_SCOPE,
			check: func(ae *connectjwtv1.AuthError) bool { return len(ae.GetMissingScopes()) == 2 }},
		{name: "revoked", method: "Default", token: f.as("revoked"), code: codes.Unauthenticated, reason: connectjwtv1.Reason_REASON_REVOKED},
		{name: "store down", method: "Default", token: f.as("down"), code: codes.Unavailable, reason: connectjwtv1.Reason_REASON_UNAVAILABLE,
			check: func(ae *connectjwtv1.AuthError) bool { return ae.GetRetryable() }},
		{name: "claims check denies", method: "Default", token: f.as("mallory"), code: codes.PermissionDenied, reason: connectjwtv1.Reason_REASON_ACCESS_DENIED},
		{name: "public from .proto", method: "Public"},
		{name: "optional without token", method: "Optional"},
		{name: "optional with token", method: "Optional", token: plain, id: "alice"},
		{name: "optional with expired token", method: "Optional", token: expired, code: codes.Unauthenticated, reason: connectjwtv1.Reason_REASON_EXPIRED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(bearer(context.Background(), tt.token), 5*time.Second)
			defer cancel()
			var resp policytestv1.DefaultResponse // every response is {identity = 1}
			err := f.conn.Invoke(ctx, "/policytest.v1.PolicyTestService/"+tt.method, &policytestv1.DefaultRequest{}, &resp)
			if tt.code == codes.OK {
				if err != nil {
					t.Fatal(err)
				}
				if resp.GetIdentity() != tt.id {
					t.Errorf("identity = %q, want %q", resp.GetIdentity(), tt.id)
				}
				return
			}
			ae := wantRefusal(t, err, tt.code, tt.reason)
			if tt.check != nil && !tt.check(ae) {
				t.Errorf("detail %v lacks what the reason needs", ae)
			}
		})
	}
}

// TestUnaryWithoutDescriptors: without the method's descriptor its .proto
// options are unknown, so a public method requires a token (fail closed).
func TestUnaryWithoutDescriptors(t *testing.T) {
	f := start(t, grpcauth.WithFiles(new(protoregistry.Files)))
	err := f.conn.Invoke(context.Background(), "/policytest.v1.PolicyTestService/Public", &policytestv1.PublicRequest{}, &policytestv1.PublicResponse{})
	wantRefusal(t, err, codes.Unauthenticated, connectjwtv1.Reason_REASON_MISSING)
}

// chatDesc describes example.v1's Chat for a client.
func chatDesc() *grpc.StreamDesc {
	return &grpc.StreamDesc{StreamName: "Chat", ServerStreams: true, ClientStreams: true}
}

func TestStream(t *testing.T) {
	f := start(t)
	tok, _ := f.iss(0, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	t.Run("no token", func(t *testing.T) {
		s, err := f.conn.NewStream(ctx, chatDesc(), "/example.v1.ProtectedService/Chat")
		if err != nil {
			t.Fatal(err)
		}
		err = s.RecvMsg(&examplev1.ChatResponse{})
		wantRefusal(t, err, codes.Unauthenticated, connectjwtv1.Reason_REASON_MISSING)
	})

	t.Run("valid", func(t *testing.T) {
		s, err := f.conn.NewStream(bearer(ctx, tok), chatDesc(), "/example.v1.ProtectedService/Chat")
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{"a", "b"} {
			if err := s.SendMsg(&examplev1.ChatRequest{Text: text}); err != nil {
				t.Fatal(err)
			}
			var resp examplev1.ChatResponse
			if err := s.RecvMsg(&resp); err != nil {
				t.Fatal(err)
			}
			if resp.GetText() != text || resp.GetIdentity() != "alice" {
				t.Errorf("response = %v", &resp)
			}
		}
		if err := s.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if err := s.RecvMsg(&examplev1.ChatResponse{}); !errors.Is(err, io.EOF) {
			t.Errorf("end of stream = %v, want EOF", err)
		}
		<-f.chat.entered
		if err := <-f.chat.done; err != nil {
			t.Errorf("handler returned %v", err)
		}
	})
}

// TestStreamEndsAtExpiry: a client that goes silent after one exchange
// leaves the handler waiting in RecvMsg; at the token's expiry the handler's
// context ends, RecvMsg returns, and the client sees the expired refusal.
func TestStreamEndsAtExpiry(t *testing.T) {
	f := start(t)
	tok, _ := f.iss(2*time.Second, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := f.conn.NewStream(bearer(ctx, tok), chatDesc(), "/example.v1.ProtectedService/Chat")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendMsg(&examplev1.ChatRequest{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecvMsg(&examplev1.ChatResponse{}); err != nil {
		t.Fatal(err)
	}
	hctx := <-f.chat.entered
	deadline, ok := hctx.Deadline()
	if !ok || time.Until(deadline) > 2*time.Second {
		t.Errorf("handler context deadline = %v, %v; want the token's expiry", deadline, ok)
	}
	start := time.Now()
	err = s.RecvMsg(&examplev1.ChatResponse{}) // the client stays silent
	wantRefusal(t, err, codes.Unauthenticated, connectjwtv1.Reason_REASON_EXPIRED)
	if waited := time.Since(start); waited > 3*time.Second {
		t.Errorf("stream ended %v after the exchange, want at the token's expiry (< 2s)", waited)
	}
	select {
	case herr := <-f.chat.done:
		if status.Code(herr) != codes.Unauthenticated {
			t.Errorf("handler's RecvMsg returned %v, want the expired refusal", herr)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("handler still blocked in RecvMsg after expiry")
	}
}

// TestStreamEndsAtRevocation: a token revoked while its stream is open ends
// the stream at the next revocation check, with the revoked refusal.
func TestStreamEndsAtRevocation(t *testing.T) {
	f := start(t)
	tok := f.as("revoked-later")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := f.conn.NewStream(bearer(ctx, tok), chatDesc(), "/example.v1.ProtectedService/Chat")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendMsg(&examplev1.ChatRequest{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecvMsg(&examplev1.ChatResponse{}); err != nil {
		t.Fatal(err)
	}
	<-f.chat.entered
	f.revokeLater.Store(true)
	err = s.RecvMsg(&examplev1.ChatResponse{}) // the client stays silent
	wantRefusal(t, err, codes.Unauthenticated, connectjwtv1.Reason_REASON_REVOKED)
	select {
	case herr := <-f.chat.done:
		if status.Code(herr) != codes.Unauthenticated {
			t.Errorf("handler's RecvMsg returned %v, want the revoked refusal", herr)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("handler still blocked in RecvMsg after revocation")
	}
}

// floodDesc describes the test's Flood for a client.
func floodDesc() *grpc.StreamDesc {
	return &grpc.StreamDesc{StreamName: "Flood", ServerStreams: true}
}

// blockedSends counts the goroutines in a grpc-go SendMsg waiting for the
// peer's flow-control window.
func blockedSends() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "transport.(*writeQuota).get(")
}

// TestStreamSendEnds: a handler flooding a client that stopped reading
// blocks in SendMsg on flow control; when the token expires or is found
// revoked, SendMsg returns the refusal, the handler returns, grpc-go tears
// the stream down (releasing the abandoned send), and the client, once it
// reads on, gets the refusal after the messages already sent.
func TestStreamSendEnds(t *testing.T) {
	tests := []struct {
		name   string
		reason connectjwtv1.Reason
	}{
		{name: "expiry", reason: connectjwtv1.Reason_REASON_EXPIRED},
		{name: "revocation", reason: connectjwtv1.Reason_REASON_REVOKED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t)
			tok, _ := f.iss(2*time.Second, "")
			if tt.reason == connectjwtv1.Reason_REASON_REVOKED {
				tok = f.as("revoked-later")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := f.conn.NewStream(bearer(ctx, tok), floodDesc(), "/example.v1.ProtectedService/Flood")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SendMsg(&examplev1.ChatRequest{Text: "-1 65536"}); err != nil {
				t.Fatal(err)
			}
			if err := s.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if err := s.RecvMsg(&examplev1.ChatResponse{}); err != nil {
				t.Fatal(err)
			}
			hctx := <-f.chat.entered
			// The client stops reading: the handler fills the flow-control
			// window and blocks in SendMsg.
			for deadline := time.Now().Add(time.Second); blockedSends() == 0; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the handler is not blocked in SendMsg")
				}
			}
			if err := hctx.Err(); err != nil {
				t.Fatalf("stream ended before its token: %v", err)
			}
			var end time.Time
			if tt.reason == connectjwtv1.Reason_REASON_REVOKED {
				f.revokeLater.Store(true)
				end = time.Now()
			} else {
				end, _ = hctx.Deadline()
			}
			select {
			case herr := <-f.chat.done:
				if late := time.Since(end); late > 1500*time.Millisecond {
					t.Errorf("handler returned %v after the stream's end, want < 1.5s", late)
				}
				wantRefusal(t, herr, codes.Unauthenticated, tt.reason)
			case <-time.After(time.Until(end) + 3*time.Second):
				t.Fatal("handler still blocked in SendMsg after the stream's end")
			}
			// The torn-down stream releases the abandoned send.
			for deadline := time.Now().Add(2 * time.Second); blockedSends() != 0; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d SendMsg calls still blocked", blockedSends())
				}
			}
			// The client reads on: the messages already sent, then the refusal.
			for n := 0; ; n++ {
				err := s.RecvMsg(&examplev1.ChatResponse{})
				if err == nil {
					if n > 1000 {
						t.Fatal("the stream did not end")
					}
					continue
				}
				wantRefusal(t, err, codes.Unauthenticated, tt.reason)
				break
			}
		})
	}
}

// BenchmarkServerStream measures the cost per message a server-streaming
// handler pays on a stream with a token: one op is one 16-byte message.
func BenchmarkServerStream(b *testing.B) {
	f := start(b)
	tok, _ := f.iss(time.Hour, "")
	ctx := bearer(b.Context(), tok)
	b.ReportAllocs()
	b.ResetTimer()
	s, err := f.conn.NewStream(ctx, floodDesc(), "/example.v1.ProtectedService/Flood")
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SendMsg(&examplev1.ChatRequest{Text: fmt.Sprint(b.N, " ", 16)}); err != nil {
		b.Fatal(err)
	}
	if err := s.CloseSend(); err != nil {
		b.Fatal(err)
	}
	var resp examplev1.ChatResponse
	for {
		if err := s.RecvMsg(&resp); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			b.Fatal(err)
		}
	}
}
