package connectjwt_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
)

func TestSessionRefreshesOnceAndRetries(t *testing.T) {
	for _, proto := range wireProtocols() {
		t.Run(proto.name, func(t *testing.T) {
			fx := newAuthFixture(t)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			session := connectjwt.NewSession(connectjwtv1connect.NewAuthServiceClient(fx.httpClient, fx.url, proto.opts...))
			if err := session.Login(ctx, "test", "test"); err != nil {
				t.Fatal(err)
			}
			client := examplev1connect.NewProtectedServiceClient(fx.httpClient, fx.url,
				append(proto.opts, connect.WithInterceptors(session.Interceptor()))...)
			if _, err := client.Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{})); err != nil {
				t.Fatalf("Protected with a fresh login: %v", err)
			}
			before, _ := session.AccessToken(ctx)

			fx.offset.Store(int64(2 * time.Minute)) // the access token (1m) expires, the refresh token (1h) does not
			const calls = 24
			var wg sync.WaitGroup
			errs := make(chan error, calls)
			for range calls {
				wg.Go(func() {
					res, err := client.Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{}))
					if err == nil && res.Msg.GetIdentity() != "test" {
						err = errors.New("wrong identity " + res.Msg.GetIdentity())
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("concurrent call after expiry: %v", err)
				}
			}
			if n := fx.refreshes.Load(); n != 1 {
				t.Errorf("Refresh called %d times, want exactly 1", n)
			}
			if after, _ := session.AccessToken(ctx); after == before {
				t.Error("session kept the expired access token")
			}

			// When the refresh token has expired too, the call fails with
			// its original error and is not retried again.
			fx.offset.Store(int64(3 * time.Hour))
			_, err := client.Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{}))
			if connectjwt.ReasonOf(err) != connectjwt.ReasonExpired {
				t.Errorf("call with both tokens expired = %v, want the original REASON_EXPIRED", err)
			}
			if n := fx.refreshes.Load(); n != 2 {
				t.Errorf("Refresh called %d times in all, want 2", n)
			}
		})
	}
}

func TestSessionDoesNotRetryOtherFailures(t *testing.T) {
	fx := newAuthFixture(t, connectjwt.WithClaimsCheck(func(context.Context, string, *connectjwt.Claims) error {
		return errors.New("account locked")
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	session := connectjwt.NewSession(connectjwtv1connect.NewAuthServiceClient(fx.httpClient, fx.url))
	if err := session.Login(ctx, "test", "test"); err != nil {
		t.Fatal(err)
	}
	client := examplev1connect.NewProtectedServiceClient(fx.httpClient, fx.url, connect.WithInterceptors(session.Interceptor()))
	_, err := client.Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{}))
	if connect.CodeOf(err) != connect.CodePermissionDenied || connectjwt.ReasonOf(err) != connectjwt.ReasonAccessDenied {
		t.Errorf("Protected = %v, want permission_denied REASON_ACCESS_DENIED", err)
	}
	if n := fx.refreshes.Load(); n != 0 {
		t.Errorf("Refresh called %d times for a non-expiry failure", n)
	}
	var ce *connect.Error
	if errors.As(err, &ce) && ce.Message() != "access denied" {
		t.Errorf("message %q leaks the application's error", ce.Message())
	}
}

func TestSessionWithoutLogin(t *testing.T) {
	fx := newAuthFixture(t)
	session := connectjwt.NewSession(connectjwtv1connect.NewAuthServiceClient(fx.httpClient, fx.url))
	client := examplev1connect.NewProtectedServiceClient(fx.httpClient, fx.url, connect.WithInterceptors(session.Interceptor()))
	_, err := client.Protected(context.Background(), connect.NewRequest(&examplev1.ProtectedRequest{}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("call before login = %v", err)
	}
	if err := session.Refresh(context.Background(), ""); err == nil {
		t.Error("Refresh without a refresh token succeeded")
	}
}

// streamer adds a server stream to the greeter, to check that the client
// interceptors attach the token to streams too.
type streamer struct{ greeter }

func (streamer) ProtectedStream(ctx context.Context, _ *connect.Request[examplev1.ProtectedStreamRequest], s *connect.ServerStream[examplev1.ProtectedStreamResponse]) error {
	identity, _ := connectjwt.IdentityFromContext(ctx)
	return s.Send(&examplev1.ProtectedStreamResponse{Hello: "world", Identity: identity})
}

func TestClientInterceptorStreams(t *testing.T) {
	key := connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef")))
	issuer, _ := connectjwt.NewIssuer(key)
	auth, _ := interceptorFor(t, key)
	mux := http.NewServeMux()
	mux.Handle(examplev1connect.NewProtectedServiceHandler(streamer{}, auth.HandlerOption()))
	url, httpClient, stop := serve(mux)
	defer stop()
	token, _, _ := issuer.CreateAccessToken(context.Background(), "carol")
	for _, proto := range wireProtocols() {
		t.Run(proto.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, tc := range []struct {
				src  connectjwt.TokenSource
				want string
			}{{connectjwt.StaticToken(token), "carol"}, {connectjwt.StaticToken(""), ""}} {
				client := examplev1connect.NewProtectedServiceClient(httpClient, url,
					append(proto.opts, connect.WithInterceptors(connectjwt.NewClientInterceptor(tc.src)))...)
				stream, err := client.ProtectedStream(ctx, connect.NewRequest(&examplev1.ProtectedStreamRequest{}))
				if err != nil {
					t.Fatal(err)
				}
				got := ""
				for stream.Receive() {
					got = stream.Msg().GetIdentity()
				}
				if got != tc.want {
					t.Errorf("stream identity = %q, want %q (err %v)", got, tc.want, stream.Err())
				}
				if tc.want == "" && connectjwt.ReasonOf(stream.Err()) != connectjwt.ReasonMissing {
					t.Errorf("stream without token: %v", stream.Err())
				}
			}
		})
	}
}

// refreshWatch is an AuthService client that reports what each Refresh
// returned.
type refreshWatch struct {
	connectjwtv1connect.AuthServiceClient

	errs chan error
}

func (w refreshWatch) Refresh(ctx context.Context, req *connect.Request[connectjwtv1.RefreshRequest]) (*connect.Response[connectjwtv1.RefreshResponse], error) {
	res, err := w.AuthServiceClient.Refresh(ctx, req)
	w.errs <- err
	return res, err
}

// Another holder of the same tokens (another process sharing their
// storage) refreshes first: the Session's Refresh is answered
// REASON_REFRESH_CONFLICT, and succeeds with the winner's tokens once
// SetTokens brings them; without them it returns the conflict and keeps
// its tokens.
func TestSessionRefreshConflict(t *testing.T) {
	for _, p := range wireProtocols() {
		t.Run(p.name, func(t *testing.T) {
			fx, _ := newRotatingFixture(t, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			pair := fx.login(ctx, t, p.opts)
			winner, err := fx.refresh(ctx, p.opts, pair.GetRefreshToken())
			if err != nil {
				t.Fatal(err)
			}

			watch := refreshWatch{fx.auth(p.opts), make(chan error, 1)}
			s := connectjwt.NewSession(watch)
			s.SetTokens(pair.GetAccessToken(), pair.GetRefreshToken())
			done := make(chan error, 1)
			go func() { done <- s.Refresh(ctx, pair.GetAccessToken()) }()
			if err := <-watch.errs; connectjwt.ReasonOf(err) != connectjwt.ReasonRefreshConflict {
				t.Fatalf("the losing Refresh = %v, want REASON_REFRESH_CONFLICT", err)
			}
			s.SetTokens(winner.GetAccessToken(), winner.GetRefreshToken()) // the shared storage catches up
			if err := <-done; err != nil {
				t.Fatalf("Refresh after the winner's tokens arrived: %v", err)
			}
			if tok, _ := s.AccessToken(ctx); tok != winner.GetAccessToken() {
				t.Error("the session does not use the winner's access token")
			}
			if err := fx.call(ctx, p.opts, winner.GetAccessToken()); err != nil {
				t.Errorf("the conflict revoked the session: %v", err)
			}

			lone := connectjwt.NewSession(fx.auth(p.opts))
			connectjwt.SetRefreshConflictWait(lone, 100*time.Millisecond)
			lone.SetTokens(pair.GetAccessToken(), pair.GetRefreshToken())
			start := time.Now()
			if err := lone.Refresh(ctx, pair.GetAccessToken()); connectjwt.ReasonOf(err) != connectjwt.ReasonRefreshConflict {
				t.Fatalf("Refresh with no tokens arriving = %v, want REASON_REFRESH_CONFLICT", err)
			}
			if waited := time.Since(start); waited < 100*time.Millisecond {
				t.Errorf("returned the conflict after %v, before waiting for other tokens", waited)
			}
			if tok, _ := lone.AccessToken(ctx); tok != pair.GetAccessToken() {
				t.Error("a failed Refresh replaced the session's tokens")
			}
		})
	}
}
