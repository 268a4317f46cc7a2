package connectjwt_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
)

// sessionFixture serves AuthService (user test/test) and the greeter behind
// one interceptor, all sharing store, on a clock tests move.
type sessionFixture struct {
	url        string
	httpClient *http.Client
	offset     atomic.Int64 // added to time.Now, in nanoseconds
}

func (fx *sessionFixture) now() time.Time {
	return time.Now().Add(time.Duration(fx.offset.Load()))
}

func (fx *sessionFixture) advance(d time.Duration) { fx.offset.Add(int64(d)) }

func newSessionFixture(t *testing.T, store connectjwt.RevocationStore, issuerOpts []connectjwt.IssuerOption, svc func(*connectjwt.Issuer, connectjwt.Authenticator) *connectjwt.AuthService) *sessionFixture {
	t.Helper()
	fx := &sessionFixture{}
	shared := connectjwt.WithOptions(
		connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef"))),
		connectjwt.WithIssuer("https://issuer.test"),
		connectjwt.WithClock(fx.now),
		connectjwt.WithRevocationStore(store),
	)
	issuer, err := connectjwt.NewIssuer(append([]connectjwt.IssuerOption{shared}, issuerOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	v, err := connectjwt.NewValidator(shared)
	if err != nil {
		t.Fatal(err)
	}
	auth := connectjwt.NewInterceptor(v)
	login := func(_ context.Context, user, password string) (string, error) {
		if user != "test" || password != "test" {
			return "", errors.New("wrong credentials")
		}
		return user, nil
	}
	mux := http.NewServeMux()
	mux.Handle(connectjwtv1connect.NewAuthServiceHandler(svc(issuer, login), auth.HandlerOption()))
	mux.Handle(examplev1connect.NewProtectedServiceHandler(greeter{}, auth.HandlerOption()))
	var stop func()
	fx.url, fx.httpClient, stop = serve(mux)
	t.Cleanup(stop)
	return fx
}

func (fx *sessionFixture) auth(opts []connect.ClientOption) connectjwtv1connect.AuthServiceClient {
	return connectjwtv1connect.NewAuthServiceClient(fx.httpClient, fx.url, opts...)
}

// as returns a greeter client that sends access token tok.
func (fx *sessionFixture) as(opts []connect.ClientOption, tok string) examplev1connect.ProtectedServiceClient {
	return examplev1connect.NewProtectedServiceClient(fx.httpClient, fx.url, append([]connect.ClientOption{
		connect.WithInterceptors(connectjwt.NewClientInterceptor(connectjwt.StaticToken(tok)))}, opts...)...)
}

func (fx *sessionFixture) login(ctx context.Context, t *testing.T, opts []connect.ClientOption) *connectjwtv1.TokenPair {
	t.Helper()
	res, err := fx.auth(opts).Login(ctx, connect.NewRequest(&connectjwtv1.LoginRequest{Username: "test", Password: "test"}))
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	return res.Msg.GetTokens()
}

func (fx *sessionFixture) refresh(ctx context.Context, opts []connect.ClientOption, refresh string) (*connectjwtv1.TokenPair, error) {
	res, err := fx.auth(opts).Refresh(ctx, connect.NewRequest(&connectjwtv1.RefreshRequest{RefreshToken: refresh}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetTokens(), nil
}

// The scenario: a thief redeems the victim's refresh token once and
// keeps refreshing; the victim logs out (sending the refresh token it
// holds, as clients do). The thief's chain must end with the logout, and
// cannot outlive the login's lifetime either. Before sessions, the thief
// called as the victim until t0+6h with a 1 h refresh lifetime.
func TestSessionStolenRefreshChainEndsAtLogout(t *testing.T) {
	store := &connectjwt.MemoryStore{}
	fx := newSessionFixture(t, store, []connectjwt.IssuerOption{connectjwt.WithTokenLifetimes(15*time.Minute, time.Hour)},
		func(is *connectjwt.Issuer, login connectjwt.Authenticator) *connectjwt.AuthService {
			return connectjwt.NewAuthService(is, login)
		})
	for _, p := range wireProtocols() {
		t.Run(p.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			victim := fx.login(ctx, t, p.opts)
			// The thief copies the refresh token and redeems it at once.
			stolen, err := fx.refresh(ctx, p.opts, victim.GetRefreshToken())
			if err != nil {
				t.Fatalf("thief's first refresh: %v", err)
			}
			fx.advance(10 * time.Minute)
			// The victim logs out, sending the refresh token it holds.
			withAccess := append([]connect.ClientOption{connect.WithInterceptors(connectjwt.NewClientInterceptor(connectjwt.StaticToken(victim.GetAccessToken())))}, p.opts...)
			_, err = fx.auth(withAccess).Logout(ctx, connect.NewRequest(&connectjwtv1.LogoutRequest{RefreshToken: victim.GetRefreshToken()}))
			if err != nil {
				t.Fatalf("Logout: %v", err)
			}
			// From t0+45m, every 45 minutes, the thief calls as the victim
			// and refreshes.
			tok := stolen
			fx.advance(-10 * time.Minute)
			for step := 1; step <= 8; step++ {
				fx.advance(45 * time.Minute)
				_, err := fx.as(p.opts, tok.GetAccessToken()).Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{}))
				if err == nil {
					t.Fatalf("step %d: the thief's access token still works after the victim's logout", step)
				}
				next, err := fx.refresh(ctx, p.opts, tok.GetRefreshToken())
				if err == nil {
					tok = next
					t.Errorf("step %d: the thief refreshed after the victim's logout", step)
					continue
				}
				if r := connectjwt.ReasonOf(err); r != connectjwt.ReasonRevoked && r != connectjwt.ReasonExpired {
					t.Fatalf("step %d: refresh refused with %v, want revoked or expired", step, err)
				}
				break
			}
			fx.offset.Store(0)
		})
	}
}
