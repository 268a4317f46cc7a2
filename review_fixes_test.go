package connectjwt_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"

	"github.com/connectjwt/connectjwt"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
)

// Regression tests for defects found in review.

// Every candidate key is tried, for RSA too (golang-jwt reports an RSA
// mismatch as rsa.ErrVerification, not ErrSignatureInvalid).
func TestVerifyTriesEveryCandidateKey(t *testing.T) {
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, kid := range []string{"shared", ""} {
		t.Run("kid="+kid, func(t *testing.T) {
			keys := []connectjwt.Option{
				connectjwt.WithKey(connectjwt.Key{ID: "shared", Algorithm: "RS256", Material: &k1.PublicKey}),
				connectjwt.WithKey(connectjwt.Key{ID: "shared", Algorithm: "RS256", Material: &k2.PublicKey}),
			}
			v, err := connectjwt.NewValidator(keys...)
			if err != nil {
				t.Fatal(err)
			}
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
			tok.Header["typ"] = "at+jwt"
			if kid != "" {
				tok.Header["kid"] = kid
			}
			signed, err := tok.SignedString(k2)
			if err != nil {
				t.Fatal(err)
			}
			if c, err := v.Validate(context.Background(), signed); err != nil || c.Identity != "alice" {
				t.Errorf("token signed by the second key: %v", err)
			}
		})
	}
}

// Names that encoding/json would match to the same struct field collide,
// also in objects too large for the pairwise check.
func TestUnicodeCaseCollidingClaimsInLargePayload(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey(secret)))
	if err != nil {
		t.Fatal(err)
	}
	for _, collide := range []string{"ſub", "SUB", "\u212Aid"} { // long s, upper case, Kelvin sign
		claims := jwt.MapClaims{"sub": "alice", "kid": "x", "exp": time.Now().Add(time.Hour).Unix(), collide: "admin"}
		for i := range 40 {
			claims[fmt.Sprintf("extra%02d", i)] = i
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		tok.Header["typ"] = "at+jwt"
		signed, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Validate(context.Background(), signed); !errors.Is(err, connectjwt.ErrMalformed) {
			t.Errorf("payload with %q beside its fold: %v, want ErrMalformed", collide, err)
		}
	}
}

// A token issued after "log out everywhere", in the same second, is valid:
// iat keeps milliseconds.
func TestTokenIssuedJustAfterRevokeIdentityIsValid(t *testing.T) {
	ctx := context.Background()
	base := time.Unix(1_800_000_000, 0)
	now := base.Add(500 * time.Millisecond)
	clock := func() time.Time { return now }
	store := connectjwt.NewMemoryStore()
	connectjwt.SetMemoryStoreClock(store, clock)
	opts := []connectjwt.Option{
		connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef"))),
		connectjwt.WithClock(clock),
		connectjwt.WithBlocklist(store),
	}
	issuer, _ := connectjwt.NewIssuer(opts...)
	v, _ := connectjwt.NewValidator(opts...)
	before, _, _ := issuer.CreateAccessToken(ctx, "alice", false)
	if err := store.RevokeIdentity(ctx, "alice", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	now = base.Add(600 * time.Millisecond)
	after, _, _ := issuer.CreateAccessToken(ctx, "alice", false)
	if _, err := v.Validate(ctx, before); !errors.Is(err, connectjwt.ErrRevoked) {
		t.Errorf("token issued before the revocation: %v", err)
	}
	if _, err := v.Validate(ctx, after); err != nil {
		t.Errorf("token issued 100 ms after the revocation: %v", err)
	}
}

// The claims loader may not set a reserved claim under another case either:
// the token would be refused as case-colliding.
func TestClaimsLoaderReservedNamesIgnoreCase(t *testing.T) {
	issuer, err := connectjwt.NewIssuer(
		connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef"))),
		connectjwt.WithClaimsLoader(func(context.Context, string) (map[string]any, error) {
			return map[string]any{"Sub": "admin"}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := issuer.CreateAccessToken(context.Background(), "alice", false); err == nil {
		t.Error(`claims loader setting "Sub" was accepted`)
	}
}

func TestConflictingProcedurePolicies(t *testing.T) {
	key := connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef")))
	const proc = "/a.v1.S/M"
	if _, err := connectjwt.NewInterceptor(key, connectjwt.WithPublicProcedures(proc),
		connectjwt.WithProcedurePolicy(proc, connectjwt.Policy{Scopes: []string{"admin"}})); err == nil {
		t.Error("public and scoped policies for one procedure were accepted")
	}
	if _, err := connectjwt.NewInterceptor(key, connectjwt.WithPublicProcedures(proc, proc)); err != nil {
		t.Errorf("the same policy twice: %v", err)
	}
}

func TestZeroValues(t *testing.T) {
	var i connectjwt.Interceptor
	for _, p := range i.Policies(connectjwtv1.File_connectjwt_v1_auth_service_proto.Services()) {
		if p.Source != connectjwt.PolicyFromDefault || p.Policy.Public {
			t.Errorf("zero Interceptor policy for %s = %+v", p.Procedure, p)
		}
	}
	if ae := connectjwt.AuthErrorOf(nil); ae.GetReason() != connectjwtv1.Reason_REASON_MALFORMED {
		t.Errorf("AuthErrorOf(nil) = %v", ae)
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
	if connect.CodeOf(err) != connect.CodeUnavailable || reasonOf(err) != connectjwtv1.Reason_REASON_UNAVAILABLE {
		t.Errorf("Revoke with the store down = %v, want unavailable", err)
	}
}

// A caller holding another issuer's token cannot log out or revoke the
// tokens of a local user with the same identity.
func TestRevocationNeedsOwnIssuer(t *testing.T) {
	key := connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef")))
	store := &connectjwt.MemoryStore{}
	local, _ := connectjwt.NewIssuer(key, connectjwt.WithIssuer("https://local.test"), connectjwt.WithBlocklist(store))
	other, _ := connectjwt.NewIssuer(key, connectjwt.WithIssuer("https://other.test"))
	auth, _ := connectjwt.NewInterceptor(key, connectjwt.WithBlocklist(store)) // accepts both issuers
	mux := http.NewServeMux()
	mux.Handle(connectjwtv1connect.NewAuthServiceHandler(
		connectjwt.NewAuthService(local, func(context.Context, string, string) (string, error) { return "", errors.New("no") }).
			WithRevocationStore(store), auth.HandlerOption()))
	url, httpClient, stop := serve(mux)
	defer stop()
	ctx := context.Background()
	foreign, _, _ := other.CreateAccessToken(ctx, "alice", true)
	client := connectjwtv1connect.NewAuthServiceClient(httpClient, url,
		connect.WithInterceptors(connectjwt.NewClientInterceptor(connectjwt.StaticToken(foreign))))
	_, err := client.Logout(ctx, connect.NewRequest(&connectjwtv1.LogoutRequest{Everywhere: true}))
	if connect.CodeOf(err) != connect.CodePermissionDenied || reasonOf(err) != connectjwtv1.Reason_REASON_ACCESS_DENIED {
		t.Errorf("Logout with another issuer's token = %v", err)
	}
	if revoked, _ := store.IsRevoked(ctx, &connectjwt.Claims{Identity: "alice", IssuedAt: time.Now().Add(-time.Second)}); revoked {
		t.Error("the local user was logged out by a foreign token")
	}
}
