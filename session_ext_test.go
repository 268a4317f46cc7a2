package connectjwt_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
)

func newRotatingFixture(t *testing.T, issuerOpts []connectjwt.IssuerOption, svcOpts ...connectjwt.AuthServiceOption) (*sessionFixture, *connectjwt.MemoryStore) {
	t.Helper()
	store := connectjwt.NewMemoryStore()
	fx := newSessionFixture(t, store, issuerOpts, func(is *connectjwt.Issuer, login connectjwt.Authenticator) *connectjwt.AuthService {
		return connectjwt.NewAuthService(is, login, svcOpts...)
	})
	connectjwt.SetMemoryStoreClock(store, fx.now)
	return fx, store
}

func (fx *sessionFixture) call(ctx context.Context, opts []connect.ClientOption, access string) error {
	_, err := fx.as(opts, access).Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{}))
	return err
}

// A refresh token presented again after the grace window revokes its whole
// session: every access and refresh token descended from the login, also
// those of the honest holder; another login of the same user is untouched.
func TestSessionReuseRevokesFamily(t *testing.T) {
	fx, _ := newRotatingFixture(t, nil)
	for _, p := range wireProtocols() {
		t.Run(p.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			first := fx.login(ctx, t, p.opts)
			other := fx.login(ctx, t, p.opts) // another device
			second, err := fx.refresh(ctx, p.opts, first.GetRefreshToken())
			if err != nil {
				t.Fatal(err)
			}
			third, err := fx.refresh(ctx, p.opts, second.GetRefreshToken())
			if err != nil {
				t.Fatal(err)
			}
			if err := fx.call(ctx, p.opts, third.GetAccessToken()); err != nil {
				t.Fatalf("rotated access token: %v", err)
			}
			fx.advance(connectjwt.DefaultRefreshReuseGrace + time.Second)
			_, err = fx.refresh(ctx, p.opts, first.GetRefreshToken())
			if connect.CodeOf(err) != connect.CodeUnauthenticated || connectjwt.ReasonOf(err) != connectjwt.ReasonRevoked {
				t.Fatalf("reused refresh token: %v, want REASON_REVOKED", err)
			}
			for name, tok := range map[string]string{"first": first.GetAccessToken(), "third": third.GetAccessToken()} {
				if err := fx.call(ctx, p.opts, tok); connectjwt.ReasonOf(err) != connectjwt.ReasonRevoked {
					t.Errorf("%s access token of the session after a reuse: %v", name, err)
				}
			}
			if _, err := fx.refresh(ctx, p.opts, third.GetRefreshToken()); connectjwt.ReasonOf(err) != connectjwt.ReasonRevoked {
				t.Errorf("latest refresh token of the session after a reuse: %v", err)
			}
			if err := fx.call(ctx, p.opts, other.GetAccessToken()); err != nil {
				t.Errorf("another session of the user: %v", err)
			}
			if _, err := fx.refresh(ctx, p.opts, other.GetRefreshToken()); err != nil {
				t.Errorf("refresh of another session: %v", err)
			}
		})
	}
}

// Two tabs refresh one token at once: exactly one gets tokens. With the
// default grace window the other is answered REASON_REFRESH_CONFLICT
// (aborted) and nothing is revoked; strict rotation revokes the session.
func TestSessionConcurrentRefresh(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       []connectjwt.AuthServiceOption
		wantCode   connect.Code
		wantReason connectjwt.Reason
		survives   bool
	}{
		{"grace", nil, connect.CodeAborted, connectjwt.ReasonRefreshConflict, true},
		{"strict", []connectjwt.AuthServiceOption{connectjwt.WithRefreshReuseGrace(0)}, connect.CodeUnauthenticated, connectjwt.ReasonRevoked, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx, _ := newRotatingFixture(t, nil, tc.opts...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for round := range 5 {
				pair := fx.login(ctx, t, nil)
				const tabs = 4
				var wg sync.WaitGroup
				pairs := make([]*connectjwtv1.TokenPair, tabs)
				errs := make([]error, tabs)
				for i := range tabs {
					wg.Go(func() { pairs[i], errs[i] = fx.refresh(ctx, wireProtocols()[i%3].opts, pair.GetRefreshToken()) })
				}
				wg.Wait()
				var winner *connectjwtv1.TokenPair
				for i, err := range errs {
					switch {
					case err == nil && winner == nil:
						winner = pairs[i]
					case err == nil:
						t.Fatalf("round %d: two refreshes of one token both got tokens", round)
					case connect.CodeOf(err) != tc.wantCode || connectjwt.ReasonOf(err) != tc.wantReason:
						t.Fatalf("round %d: loser got %v, want %v %v", round, err, tc.wantCode, tc.wantReason)
					}
				}
				if winner == nil {
					t.Fatalf("round %d: no refresh won: %v", round, errs)
				}
				err := fx.call(ctx, nil, winner.GetAccessToken())
				_, rerr := fx.refresh(ctx, nil, winner.GetRefreshToken())
				if tc.survives && (err != nil || rerr != nil) {
					t.Fatalf("round %d: the winner's session did not survive the conflict: %v, %v", round, err, rerr)
				}
				if !tc.survives && (connectjwt.ReasonOf(err) != connectjwt.ReasonRevoked || connectjwt.ReasonOf(rerr) != connectjwt.ReasonRevoked) {
					t.Fatalf("round %d: strict rotation left the session alive: %v, %v", round, err, rerr)
				}
			}
		})
	}
}

// Within the grace window a just-redeemed token is a conflict; after it, a
// reuse.
func TestSessionGraceWindowEnds(t *testing.T) {
	fx, _ := newRotatingFixture(t, nil, connectjwt.WithRefreshReuseGrace(30*time.Second))
	ctx := context.Background()
	pair := fx.login(ctx, t, nil)
	next, err := fx.refresh(ctx, nil, pair.GetRefreshToken())
	if err != nil {
		t.Fatal(err)
	}
	fx.advance(29 * time.Second)
	if _, err := fx.refresh(ctx, nil, pair.GetRefreshToken()); connectjwt.ReasonOf(err) != connectjwt.ReasonRefreshConflict {
		t.Fatalf("within the grace window: %v", err)
	}
	if err := fx.call(ctx, nil, next.GetAccessToken()); err != nil {
		t.Fatalf("a conflict revoked the session: %v", err)
	}
	fx.advance(2 * time.Second)
	if _, err := fx.refresh(ctx, nil, pair.GetRefreshToken()); connectjwt.ReasonOf(err) != connectjwt.ReasonRevoked {
		t.Fatalf("after the grace window: %v", err)
	}
	if err := fx.call(ctx, nil, next.GetAccessToken()); connectjwt.ReasonOf(err) != connectjwt.ReasonRevoked {
		t.Fatalf("the session survived a reuse: %v", err)
	}
}

// No token of a session expires after its login plus the session lifetime,
// however often it is refreshed: by default the refresh token lifetime.
func TestSessionAbsoluteLifetime(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     []connectjwt.IssuerOption
		lifetime time.Duration
	}{
		{"default", nil, time.Hour},
		{"longer", []connectjwt.IssuerOption{connectjwt.WithSessionLifetime(3 * time.Hour)}, 3 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx, _ := newRotatingFixture(t, append([]connectjwt.IssuerOption{connectjwt.WithTokenLifetimes(15*time.Minute, time.Hour)}, tc.opts...))
			ctx := context.Background()
			pair := fx.login(ctx, t, nil)
			end := time.Unix(fx.now().Unix(), 0).Add(tc.lifetime)
			refreshes := 0
			for {
				fx.advance(40 * time.Minute)
				next, err := fx.refresh(ctx, nil, pair.GetRefreshToken())
				if err != nil {
					if connectjwt.ReasonOf(err) != connectjwt.ReasonExpired {
						t.Fatalf("end of the session: %v, want REASON_EXPIRED", err)
					}
					break
				}
				refreshes++
				for name, at := range map[string]time.Time{"access": next.GetAccessTokenExpiresAt().AsTime(), "refresh": next.GetRefreshTokenExpiresAt().AsTime()} {
					if at.After(end) {
						t.Fatalf("refresh %d: %s token expires at %v, after the session's end %v", refreshes, name, at, end)
					}
				}
				pair = next
			}
			if !fx.now().After(end) || fx.now().After(end.Add(40*time.Minute)) {
				t.Fatalf("the session ended at %v, want just after %v", fx.now(), end)
			}
			if want := int(tc.lifetime / (40 * time.Minute)); refreshes != want {
				t.Errorf("%d refreshes, want %d", refreshes, want)
			}
		})
	}
}
