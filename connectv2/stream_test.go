package connectv2_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"connectrpc.com/connect/v2/connectinprocess"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/connectv2"
	"github.com/connectjwt/connectjwt/connectv2/example/gen/example/v1/examplev1connect"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
)

// TestStreamEndsAtExpiry: a server stream that sends forever, and a bidi
// stream whose client went silent (the handler blocked in Receive), both end
// with REASON_EXPIRED at the token's exp, on every protocol.
func TestStreamEndsAtExpiry(t *testing.T) {
	ts := startServer(t, newValidator(t))
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			tok := mint(t, 2*time.Second, nil)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c := examplev1connect.NewProtectedServiceClient(connect.NewClient(connecthttp.NewTransport(ts.client, ts.url, p.opts...), bearer(tok)))

			s, err := c.ProtectedStream(ctx, &examplev1.ProtectedStreamRequest{Count: 0})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for ; ; n++ {
				if _, err = s.Receive(); err != nil {
					break
				}
			}
			if code, reason := reasonOf(t, err); code != connect.CodeUnauthenticated || reason != connectjwtv1.Reason_REASON_EXPIRED || n == 0 {
				t.Errorf("server stream: %d messages, then %v %v (%v)", n, code, reason, err)
			}

			c = examplev1connect.NewProtectedServiceClient(connect.NewClient(connecthttp.NewTransport(ts.client, ts.url, p.opts...), bearer(mint(t, 2*time.Second, nil))))
			chat, err := c.Chat(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer chat.Close()
			if err := chat.Send(&examplev1.ChatRequest{Text: "hi"}); err != nil {
				t.Fatal(err)
			}
			if _, err := chat.Receive(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = chat.Receive() // the client sends nothing more
			if code, reason := reasonOf(t, err); code != connect.CodeUnauthenticated || reason != connectjwtv1.Reason_REASON_EXPIRED {
				t.Errorf("silent bidi: %v %v (%v) after %v", code, reason, err, time.Since(start))
			}
		})
	}
}

// TestStreamSeesRevocation: a stream whose token is revoked while it runs
// ends with REASON_REVOKED at the next revocation check.
func TestStreamSeesRevocation(t *testing.T) {
	var revoked atomic.Bool
	v := newValidator(t,
		connectjwt.WithRevocationStore(revokedFunc(func(context.Context, *connectjwt.Claims) (bool, error) { return revoked.Load(), nil })),
		connectjwt.WithStreamRevocationCheck(50*time.Millisecond),
	)
	ts := startServer(t, v)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			revoked.Store(false)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c := examplev1connect.NewProtectedServiceClient(connect.NewClient(connecthttp.NewTransport(ts.client, ts.url, p.opts...), bearer(mint(t, time.Hour, nil))))
			s, err := c.ProtectedStream(ctx, &examplev1.ProtectedStreamRequest{Count: 0})
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if _, err := s.Receive(); err != nil {
					t.Fatal(err)
				}
			}
			revoked.Store(true)
			for err == nil {
				_, err = s.Receive()
			}
			if code, reason := reasonOf(t, err); code != connect.CodeUnauthenticated || reason != connectjwtv1.Reason_REASON_REVOKED {
				t.Errorf("got %v %v (%v)", code, reason, err)
			}
		})
	}
}

func TestLoaders(t *testing.T) {
	var seen atomic.Pointer[connectjwt.Failure]
	ts := startServer(t, newValidator(t),
		connectv2.WithExpiredTokenLoader(func(_ context.Context, f *connectjwt.Failure) *connect.Error {
			seen.Store(f)
			return connect.NewError(connect.CodeUnauthenticated, "The token has expired")
		}),
		connectv2.WithInvalidTokenLoader(func(context.Context, *connectjwt.Failure) *connect.Error { return nil }),
		connectv2.WithUnauthorizedLoader(nil),
	)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			transport := connecthttp.NewTransport(ts.client, ts.url, p.opts...)
			c := examplev1connect.NewProtectedServiceClient(connect.NewClient(transport, bearer(mint(t, -time.Minute, nil))))
			_, err := c.Protected(t.Context(), &examplev1.ProtectedRequest{})
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Code() != connect.CodeUnauthenticated || ce.Message() != "The token has expired" {
				t.Errorf("expired: %v", err)
			}
			if f := seen.Load(); f == nil || f.Claims == nil || f.Claims.Identity != "alice" || f.Procedure != examplev1connect.ProtectedServiceProtectedProcedure {
				t.Errorf("loader saw %+v", f)
			}
			// A nil loader result, and a nil loader, fall back to the default.
			for _, ic := range []connect.ClientInterceptor{bearer("a.b.c"), withHeader()} {
				c := examplev1connect.NewProtectedServiceClient(connect.NewClient(transport, ic))
				_, err := c.Protected(t.Context(), &examplev1.ProtectedRequest{})
				if _, reason := reasonOf(t, err); reason == connectjwtv1.Reason_REASON_UNSPECIFIED {
					t.Errorf("default loader: no AuthError in %v", err)
				}
			}
		})
	}
}

// TestWWWAuthenticate: the challenge is a response header on Connect and
// gRPC-web, and absent on gRPC, where it would be a dropped trailer.
func TestWWWAuthenticate(t *testing.T) {
	ts := startServer(t, newValidator(t))
	for _, p := range protocols {
		for _, tc := range []struct {
			name, want string
			ic         connect.ClientInterceptor
		}{
			{"missing", "Bearer", withHeader()},
			{"expired", `Bearer error="invalid_token"`, bearer(mint(t, -time.Minute, nil))},
		} {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				c := examplev1connect.NewProtectedServiceClient(connect.NewClient(connecthttp.NewTransport(ts.client, ts.url, p.opts...), tc.ic))
				ctx, info := connect.NewClientContext(t.Context())
				if _, err := c.Protected(ctx, &examplev1.ProtectedRequest{}); err == nil {
					t.Fatal("no error")
				}
				want := tc.want
				if p.name == "grpc" {
					want = ""
				}
				if got := info.ResponseHeader().Get("Www-Authenticate"); got != want {
					t.Errorf("WWW-Authenticate %q, want %q", got, want)
				}
			})
		}
	}
}

// TestStreamEndsAtExpiryInProcess: over connectinprocess too, a stream that
// keeps sending ends with REASON_EXPIRED at exp.
func TestStreamEndsAtExpiryInProcess(t *testing.T) {
	server := connect.NewServer(connectv2.NewServerInterceptor(newValidator(t)))
	examplev1connect.RegisterProtectedServiceHandler(server, exampleService{})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c := examplev1connect.NewProtectedServiceClient(connect.NewClient(connectinprocess.New(server), bearer(mint(t, time.Second, nil))))
	s, err := c.ProtectedStream(ctx, &examplev1.ProtectedStreamRequest{Count: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for err == nil {
		_, err = s.Receive()
	}
	if code, reason := reasonOf(t, err); code != connect.CodeUnauthenticated || reason != connectjwtv1.Reason_REASON_EXPIRED {
		t.Errorf("got %v %v (%v)", code, reason, err)
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
