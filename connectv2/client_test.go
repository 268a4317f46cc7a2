package connectv2_test

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/connectv2"
	"github.com/connectjwt/connectjwt/connectv2/example/gen/example/v1/examplev1connect"
	"github.com/connectjwt/connectjwt/connectv2/gen/connectjwt/v1/connectjwtv1connect"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
)

// authServer serves the example service and the v2 AuthService, and counts
// the Refresh calls it answers.
type authServer struct {
	url       string
	client    *http.Client
	issuer    *connectjwt.Issuer
	refreshes atomic.Int64
}

func startAuthServer(t *testing.T) *authServer {
	t.Helper()
	as := &authServer{}
	store := connectjwt.NewMemoryStore()
	var err error
	as.issuer, err = connectjwt.NewIssuer(connectjwt.WithKey(connectjwt.HMACKey(testSecret)), connectjwt.WithRevocationStore(store))
	if err != nil {
		t.Fatal(err)
	}
	v := newValidator(t, connectjwt.WithRevocationStore(store))
	svc := connectjwt.NewAuthService(as.issuer, func(_ context.Context, user, password string) (string, error) {
		if user == "alice" && subtle.ConstantTimeCompare([]byte(password), []byte("secret")) == 1 {
			return "alice", nil
		}
		return "", errors.New("no")
	})
	countRefresh := func(next connect.ServerFunc) connect.ServerFunc {
		return func(ctx context.Context, spec connect.Spec, s connect.ServerStream) error {
			if spec.Procedure == connectjwtv1connect.AuthServiceRefreshProcedure {
				as.refreshes.Add(1)
			}
			return next(ctx, spec, s)
		}
	}
	server := connect.NewServer(connectv2.NewServerInterceptor(v), countRefresh)
	examplev1connect.RegisterProtectedServiceHandler(server, exampleService{})
	connectjwtv1connect.RegisterAuthServiceHandler(server, connectv2.NewAuthServiceHandler(svc))
	mux := http.NewServeMux()
	connecthttp.Mount(mux, server)
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	as.url, as.client = srv.URL, srv.Client()
	return as
}

func TestSessionAndAuthService(t *testing.T) {
	as := startAuthServer(t)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			ctx := t.Context()
			transport := connecthttp.NewTransport(as.client, as.url, p.opts...)
			sess := connectv2.NewSession(connectjwtv1connect.NewAuthServiceClient(connect.NewClient(transport)))

			err := sess.Login(ctx, "alice", "wrong")
			if code, reason := reasonOf(t, err); code != connect.CodeUnauthenticated || reason != connectjwtv1.Reason_REASON_INVALID_CREDENTIALS {
				t.Errorf("wrong password: %v %v (%v)", code, reason, err)
			}
			if err := sess.Login(ctx, "alice", "secret"); err != nil {
				t.Fatal(err)
			}
			protected := examplev1connect.NewProtectedServiceClient(connect.NewClient(transport, connectv2.NewClientInterceptor(sess)))
			if res, err := protected.Protected(ctx, &examplev1.ProtectedRequest{}); err != nil || res.GetIdentity() != "alice" {
				t.Fatalf("after login: %v %v", res, err)
			}

			// An expired access token: concurrent calls share one refresh
			// and each is sent again once.
			pair, err := as.issuer.CreateFreshTokenPair(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			sess.SetTokens(mint(t, -time.Minute, nil), pair.GetRefreshToken())
			before := as.refreshes.Load()
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					if res, err := protected.Protected(ctx, &examplev1.ProtectedRequest{}); err != nil || res.GetIdentity() != "alice" {
						t.Errorf("after refresh: %v %v", res, err)
					}
				})
			}
			wg.Wait()
			if n := as.refreshes.Load() - before; n != 1 {
				t.Errorf("%d Refresh calls, want 1", n)
			}

			// A refresh that fails: the call returns its original error.
			sess.SetTokens(mint(t, -time.Minute, nil), "not-a-token")
			_, err = protected.Protected(ctx, &examplev1.ProtectedRequest{})
			if _, reason := reasonOf(t, err); reason != connectjwtv1.Reason_REASON_EXPIRED {
				t.Errorf("failed refresh: %v", err)
			}

			// Logout needs a token (its .proto options do not make it
			// public) and revokes the caller's tokens.
			anon := connectjwtv1connect.NewAuthServiceClient(connect.NewClient(transport))
			_, err = anon.Logout(ctx, &connectjwtv1.LogoutRequest{})
			if _, reason := reasonOf(t, err); reason != connectjwtv1.Reason_REASON_MISSING {
				t.Errorf("anonymous logout: %v", err)
			}
			if err := sess.Login(ctx, "alice", "secret"); err != nil {
				t.Fatal(err)
			}
			auth := connectjwtv1connect.NewAuthServiceClient(connect.NewClient(transport, connectv2.NewClientInterceptor(sess)))
			if _, err := auth.Logout(ctx, &connectjwtv1.LogoutRequest{}); err != nil {
				t.Fatal(err)
			}
			_, err = protected.Protected(ctx, &examplev1.ProtectedRequest{})
			if _, reason := reasonOf(t, err); reason != connectjwtv1.Reason_REASON_REVOKED {
				t.Errorf("after logout: %v", err)
			}
		})
	}
}

func TestClientInterceptorWithoutToken(t *testing.T) {
	ts := startServer(t, newValidator(t))
	c := examplev1connect.NewProtectedServiceClient(connect.NewClient(connecthttp.NewTransport(ts.client, ts.url), connectv2.NewClientInterceptor(connectjwt.StaticToken(""))))
	_, err := c.Protected(t.Context(), &examplev1.ProtectedRequest{})
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeUnauthenticated || ce.IsRemote() {
		t.Errorf("unary without a token: %v, want a local unauthenticated error", err)
	}
	// A stream goes out without a token and gets the server's answer.
	s, err := c.ProtectedStream(t.Context(), &examplev1.ProtectedStreamRequest{Count: 1})
	if err == nil {
		_, err = s.Receive()
	}
	if _, reason := reasonOf(t, err); reason != connectjwtv1.Reason_REASON_MISSING {
		t.Errorf("stream without a token: %v", err)
	}
}

// TestAuthErrorOf: the detail of a v2 error, and the core's answer for a
// Failure or any other error.
func TestAuthErrorOf(t *testing.T) {
	f := &connectjwt.Failure{Reason: connectjwt.ReasonRevoked, Err: connectjwt.ErrRevoked}
	for _, tt := range []struct {
		name string
		err  error
		want connectjwtv1.Reason
		ok   bool
	}{
		{"v2 error", connectv2.DefaultError(f), connectjwtv1.Reason_REASON_REVOKED, true},
		{"failure", f, connectjwtv1.Reason_REASON_REVOKED, true},
		{"v2 error without detail", connect.NewError(connect.CodeInternal, "boom"), 0, false},
		{"plain error", errors.New("boom"), 0, false},
	} {
		ae, ok := connectv2.AuthErrorOf(tt.err)
		if ok != tt.ok || ae.GetReason() != tt.want {
			t.Errorf("%s: %v %v, want %v %v", tt.name, ae.GetReason(), ok, tt.want, tt.ok)
		}
	}
}
