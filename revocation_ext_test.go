package connectjwt_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
)

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	store := connectjwt.NewMemoryStoreAt(func() time.Time { return now })
	claims := func(jti, identity string, iat time.Time) *connectjwt.Claims {
		return &connectjwt.Claims{ID: jti, Identity: identity, IssuedAt: iat}
	}
	check := func(name string, c *connectjwt.Claims, want bool) {
		t.Helper()
		got, err := store.IsRevoked(ctx, c)
		if err != nil || got != want {
			t.Errorf("%s: IsRevoked = %v, %v; want %v", name, got, err, want)
		}
	}
	_ = store.RevokeToken(ctx, &connectjwt.Claims{ID: "j1", Identity: "alice", IssuedAt: now, ExpiresAt: now.Add(time.Minute)})
	check("revoked jti", claims("j1", "alice", now), true)
	check("other jti", claims("j2", "alice", now), false)

	cutoff := now.Add(-time.Second)
	_ = store.RevokeIdentity(ctx, "bob", cutoff, now.Add(time.Hour))
	check("issued before cutoff", claims("a", "bob", cutoff.Add(-time.Second)), true)
	check("issued at cutoff", claims("b", "bob", cutoff), true)
	check("issued after cutoff", claims("c", "bob", cutoff.Add(time.Second)), false)
	check("no iat counts as oldest", claims("d", "bob", time.Time{}), true)
	check("other identity", claims("e", "carol", cutoff.Add(-time.Hour)), false)

	// An earlier cutoff never lowers a later one.
	_ = store.RevokeIdentity(ctx, "bob", cutoff.Add(-time.Hour), now.Add(time.Hour))
	check("later cutoff kept", claims("f", "bob", cutoff), true)

	// Entries end when the tokens they revoke are dead.
	now = now.Add(2 * time.Minute)
	check("jti entry expired", claims("j1", "alice", now.Add(-3*time.Minute)), false)
	now = now.Add(2 * time.Hour)
	check("identity entry expired", claims("g", "bob", cutoff), false)
}

// revocationFixture serves AuthService (with Logout and Revoke) and the
// greeter, all behind one interceptor sharing a store.
func revocationFixture(t *testing.T, store connectjwt.RevocationStore) (string, *http.Client) {
	t.Helper()
	opts := []connectjwt.Option{
		connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef"))),
		connectjwt.WithRevocationStore(store),
	}
	issuer, err := connectjwt.NewIssuer(connectjwt.WithOptions(opts...))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := interceptorFor(t, connectjwt.WithOptions(opts...))
	if err != nil {
		t.Fatal(err)
	}
	users := func(_ context.Context, user, password string) (string, error) {
		if password != "pw" {
			return "", errors.New("wrong password")
		}
		return user, nil
	}
	mux := http.NewServeMux()
	mux.Handle(connectjwtv1connect.NewAuthServiceHandler(
		connectjwt.NewAuthService(issuer, users), auth.HandlerOption()))
	mux.Handle(examplev1connect.NewProtectedServiceHandler(greeter{}, auth.HandlerOption()))
	url, httpClient, stop := serve(mux)
	t.Cleanup(stop)
	return url, httpClient
}

func TestLogoutAndRevoke(t *testing.T) {
	for _, proto := range wireProtocols() {
		t.Run(proto.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			url, httpClient := revocationFixture(t, connectjwt.NewMemoryStore())
			anonymous := connectjwtv1connect.NewAuthServiceClient(httpClient, url, proto.opts...)
			login := func(user string) *connectjwtv1.TokenPair {
				t.Helper()
				res, err := anonymous.Login(ctx, connect.NewRequest(&connectjwtv1.LoginRequest{Username: user, Password: "pw"}))
				if err != nil {
					t.Fatalf("Login(%s): %v", user, err)
				}
				return res.Msg.GetTokens()
			}
			as := func(token string) (connectjwtv1connect.AuthServiceClient, examplev1connect.ProtectedServiceClient) {
				opts := append(slices.Clone(proto.opts), connect.WithInterceptors(connectjwt.NewClientInterceptor(connectjwt.StaticToken(token))))
				return connectjwtv1connect.NewAuthServiceClient(httpClient, url, opts...),
					examplev1connect.NewProtectedServiceClient(httpClient, url, opts...)
			}
			greet := func(c examplev1connect.ProtectedServiceClient) error {
				_, err := c.Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{}))
				return err
			}
			refresh := func(token string) error {
				_, err := anonymous.Refresh(ctx, connect.NewRequest(&connectjwtv1.RefreshRequest{RefreshToken: token}))
				return err
			}

			// Logout without a token is refused.
			if _, err := anonymous.Logout(ctx, connect.NewRequest(&connectjwtv1.LogoutRequest{})); connectjwt.ReasonOf(err) != connectjwt.ReasonMissing {
				t.Errorf("Logout without token = %v", err)
			}

			// Logout revokes the calling access token and the given refresh token.
			laptop := login("alice")
			auth, protected := as(laptop.GetAccessToken())
			if err := greet(protected); err != nil {
				t.Fatalf("before logout: %v", err)
			}
			phone := login("alice")
			if _, err := auth.Logout(ctx, connect.NewRequest(&connectjwtv1.LogoutRequest{RefreshToken: laptop.GetRefreshToken()})); err != nil {
				t.Fatalf("Logout: %v", err)
			}
			if err := greet(protected); connectjwt.ReasonOf(err) != connectjwt.ReasonRevoked || connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Errorf("access token after logout = %v", err)
			}
			if err := refresh(laptop.GetRefreshToken()); connectjwt.ReasonOf(err) != connectjwt.ReasonRevoked {
				t.Errorf("refresh token after logout = %v", err)
			}
			_, phoneGreet := as(phone.GetAccessToken())
			if err := greet(phoneGreet); err != nil {
				t.Errorf("another session was logged out too: %v", err)
			}

			// Revoke one of one's own tokens; another identity's is refused.
			bob := login("bob")
			bobAuth, _ := as(bob.GetAccessToken())
			_, err := bobAuth.Revoke(ctx, connect.NewRequest(&connectjwtv1.RevokeRequest{Token: phone.GetRefreshToken()}))
			if connect.CodeOf(err) != connect.CodePermissionDenied {
				t.Errorf("revoking another identity's token = %v", err)
			}
			if _, err := bobAuth.Revoke(ctx, connect.NewRequest(&connectjwtv1.RevokeRequest{Token: bob.GetRefreshToken()})); err != nil {
				t.Fatalf("Revoke own refresh token: %v", err)
			}
			if err := refresh(bob.GetRefreshToken()); connectjwt.ReasonOf(err) != connectjwt.ReasonRevoked {
				t.Errorf("revoked refresh token = %v", err)
			}
			if _, err := bobAuth.Revoke(ctx, connect.NewRequest(&connectjwtv1.RevokeRequest{Token: "garbage"})); connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Errorf("revoking garbage = %v", err)
			}

			// Logout everywhere ends every session of the identity.
			phoneAuth, _ := as(phone.GetAccessToken())
			if _, err := phoneAuth.Logout(ctx, connect.NewRequest(&connectjwtv1.LogoutRequest{Everywhere: true})); err != nil {
				t.Fatalf("Logout everywhere: %v", err)
			}
			if err := refresh(phone.GetRefreshToken()); connectjwt.ReasonOf(err) != connectjwt.ReasonRevoked {
				t.Errorf("phone refresh token after logout everywhere = %v", err)
			}
		})
	}
}

// failingStore is a revocation store whose backend is down.
type failingStore struct{}

func (failingStore) IsRevoked(context.Context, *connectjwt.Claims) (bool, error) {
	return false, errors.New("connection refused")
}
func (failingStore) RevokeToken(context.Context, *connectjwt.Claims) error {
	return errors.New("connection refused")
}
func (failingStore) RevokeSession(context.Context, string, time.Time) error {
	return errors.New("connection refused")
}
func (failingStore) RedeemRefreshToken(context.Context, *connectjwt.Claims, time.Time) (bool, time.Time, error) {
	return false, time.Time{}, errors.New("connection refused")
}
func (failingStore) RevokeIdentity(context.Context, string, time.Time, time.Time) error {
	return errors.New("connection refused")
}

// A store that is down fails closed: no token passes, and the answer is a
// retryable unavailable, not unauthenticated.
func TestRevocationStoreDownFailsClosed(t *testing.T) {
	url, httpClient := revocationFixture(t, failingStore{})
	for _, proto := range wireProtocols() {
		t.Run(proto.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := connectjwtv1connect.NewAuthServiceClient(httpClient, url, proto.opts...).
				Login(ctx, connect.NewRequest(&connectjwtv1.LoginRequest{Username: "alice", Password: "pw"}))
			if err != nil {
				t.Fatal(err)
			}
			client := examplev1connect.NewProtectedServiceClient(httpClient, url, append(slices.Clone(proto.opts),
				connect.WithInterceptors(connectjwt.NewClientInterceptor(connectjwt.StaticToken(res.Msg.GetTokens().GetAccessToken()))))...)
			_, err = client.Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{}))
			ae, _ := connectjwt.AuthErrorOf(err)
			if connect.CodeOf(err) != connect.CodeUnavailable || connectjwt.Reason(ae.GetReason()) != connectjwt.ReasonUnavailable || !ae.GetRetryable() {
				t.Errorf("call with the store down = %v (%v)", err, ae)
			}
			var ce *connect.Error
			if errors.As(err, &ce) && ce.Message() != "token could not be checked, try again: revocation check failed" {
				t.Errorf("message %q", ce.Message())
			}
		})
	}
}

// Tokens carry whole-second iat (issue 16: PyJWT and jose refuse a
// fractional iat for up to a second), so "log out everywhere" fails closed
// for the rest of its second: a token issued later in that second is
// revoked too, and one issued in the next second is valid.
func TestTokenIssuedAfterRevokeIdentity(t *testing.T) {
	ctx := context.Background()
	base := time.Unix(1_800_000_000, 0)
	now := base.Add(500 * time.Millisecond)
	clock := func() time.Time { return now }
	store := connectjwt.NewMemoryStoreAt(clock)
	opts := []connectjwt.Option{
		connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef"))),
		connectjwt.WithClock(clock),
		connectjwt.WithRevocationStore(store),
	}
	issuer, _ := connectjwt.NewIssuer(connectjwt.WithOptions(opts...))
	v, _ := connectjwt.NewValidator(connectjwt.WithOptions(opts...))
	before, _, _ := issuer.CreateAccessToken(ctx, "alice")
	if err := store.RevokeIdentity(ctx, "alice", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	now = base.Add(600 * time.Millisecond)
	sameSecond, _, _ := issuer.CreateAccessToken(ctx, "alice")
	now = base.Add(time.Second)
	nextSecond, _, _ := issuer.CreateAccessToken(ctx, "alice")
	for name, tok := range map[string]string{"before the revocation": before, "100 ms after, same second": sameSecond} {
		if _, err := v.Validate(ctx, tok); !errors.Is(err, connectjwt.ErrRevoked) {
			t.Errorf("token issued %s: %v, want ErrRevoked", name, err)
		}
	}
	if _, err := v.Validate(ctx, nextSecond); err != nil {
		t.Errorf("token issued in the next second: %v", err)
	}
}

// refreshStoreDown is a revocation store that cannot answer for refresh
// tokens: the caller's access token passes, the token to revoke cannot be
// checked.
type refreshStoreDown struct{ connectjwt.MemoryStore }

func (s *refreshStoreDown) IsRevoked(ctx context.Context, c *connectjwt.Claims) (bool, error) {
	if c.Type == connectjwt.DefaultRefreshTokenType {
		return false, errors.New("connection refused")
	}
	return s.MemoryStore.IsRevoked(ctx, c)
}

func TestRevokeReportsStoreOutageAsUnavailable(t *testing.T) {
	url, httpClient := revocationFixture(t, &refreshStoreDown{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := connectjwtv1connect.NewAuthServiceClient(httpClient, url).
		Login(ctx, connect.NewRequest(&connectjwtv1.LoginRequest{Username: "alice", Password: "pw"}))
	if err != nil {
		t.Fatal(err)
	}
	auth := connectjwtv1connect.NewAuthServiceClient(httpClient, url,
		connect.WithInterceptors(connectjwt.NewClientInterceptor(connectjwt.StaticToken(res.Msg.GetTokens().GetAccessToken()))))
	_, err = auth.Revoke(ctx, connect.NewRequest(&connectjwtv1.RevokeRequest{Token: res.Msg.GetTokens().GetRefreshToken()}))
	if connect.CodeOf(err) != connect.CodeUnavailable || connectjwt.ReasonOf(err) != connectjwt.ReasonUnavailable {
		t.Errorf("Revoke with the store down = %v, want unavailable", err)
	}
}

// A caller holding another issuer's token cannot log out or revoke the
// tokens of a local user with the same identity.
func TestRevocationNeedsOwnIssuer(t *testing.T) {
	key := connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef")))
	store := connectjwt.NewMemoryStore()
	local, _ := connectjwt.NewIssuer(key, connectjwt.WithIssuer("https://local.test"), connectjwt.WithRevocationStore(store))
	other, _ := connectjwt.NewIssuer(key, connectjwt.WithIssuer("https://other.test"))
	auth, _ := interceptorFor(t, key, connectjwt.WithRevocationStore(store)) // accepts both issuers
	mux := http.NewServeMux()
	mux.Handle(connectjwtv1connect.NewAuthServiceHandler(
		connectjwt.NewAuthService(local, func(context.Context, string, string) (string, error) { return "", errors.New("no") }),
		auth.HandlerOption()))
	url, httpClient, stop := serve(mux)
	defer stop()
	ctx := context.Background()
	foreign, _, _ := other.CreateFreshAccessToken(ctx, "alice")
	client := connectjwtv1connect.NewAuthServiceClient(httpClient, url,
		connect.WithInterceptors(connectjwt.NewClientInterceptor(connectjwt.StaticToken(foreign))))
	_, err := client.Logout(ctx, connect.NewRequest(&connectjwtv1.LogoutRequest{Everywhere: true}))
	if connect.CodeOf(err) != connect.CodePermissionDenied || connectjwt.ReasonOf(err) != connectjwt.ReasonAccessDenied {
		t.Errorf("Logout with another issuer's token = %v", err)
	}
	if revoked, _ := store.IsRevoked(ctx, &connectjwt.Claims{Identity: "alice", IssuedAt: time.Now().Add(-time.Second)}); revoked {
		t.Error("the local user was logged out by a foreign token")
	}
}
