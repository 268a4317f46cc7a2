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
			v, err := connectjwt.NewValidator(connectjwt.WithOptions(keys...))
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

// Names that differ only in case (also under Unicode folding) are distinct
// claims, with the same answer at every member count (issue 16: it used to
// depend on whether the object had more than 32 members); the validator
// reads only the exact name, and Claims.Decode refuses a struct that would
// see two of them as one field.
func TestCaseDifferingClaimNames(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey(secret)))
	if err != nil {
		t.Fatal(err)
	}
	type subOnly struct {
		Sub string `json:"sub"`
		Iss string `json:"iss"`
	}
	type embedded struct{ subOnly }
	type roleOnly struct {
		Role string `json:"role"`
	}
	for _, collide := range []string{"ſub", "SUB", "Sub", "İss"} { // long s, upper case, dotted capital I
		for _, extra := range []int{0, 3, 40} {
			claims := jwt.MapClaims{"sub": "alice", "iss": "https://issuer.test", "role": "user", "exp": time.Now().Add(time.Hour).Unix(), collide: "admin"}
			for i := range extra {
				claims[fmt.Sprintf("extra%02d", i)] = i
			}
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
			tok.Header["typ"] = "at+jwt"
			signed, err := tok.SignedString(secret)
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Validate(context.Background(), signed)
			if err != nil {
				t.Errorf("%q beside its fold, %d more members: %v", collide, extra, err)
				continue
			}
			if c.Identity != "alice" || c.Issuer != "https://issuer.test" {
				t.Errorf("%q: identity %q, issuer %q", collide, c.Identity, c.Issuer)
			}
			if raw, ok := c.Value(collide); !ok || string(raw) != `"admin"` {
				t.Errorf("Value(%q) = %s, %v", collide, raw, ok)
			}
			var m map[string]any
			if err := c.Decode(&m); err != nil || m[collide] != "admin" || m["sub"] != "alice" {
				t.Errorf("Decode into a map: %v, %v", m, err)
			}
			var r roleOnly
			if err := c.Decode(&r); err != nil || r.Role != "user" {
				t.Errorf("Decode into a struct without the colliding field: %+v, %v", r, err)
			}
			var s subOnly
			if err := c.Decode(&s); err == nil {
				t.Errorf("Decode of %q beside its fold into a struct field succeeded: %+v", collide, s)
			}
			var e embedded
			if err := c.Decode(&e); err == nil {
				t.Errorf("Decode of %q beside its fold into an embedded struct field succeeded: %+v", collide, e)
			}
		}
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

// The claims loader may not set a reserved claim under another case either:
// the token would be refused as case-colliding.
func TestClaimsLoaderReservedNamesIgnoreCase(t *testing.T) {
	issuer, err := connectjwt.NewIssuer(
		connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef"))),
		connectjwt.WithExtraClaims(func(context.Context, string) (map[string]any, error) {
			return map[string]any{"Sub": "admin"}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := issuer.CreateAccessToken(context.Background(), "alice"); err == nil {
		t.Error(`claims loader setting "Sub" was accepted`)
	}
}

func TestConflictingProcedurePolicies(t *testing.T) {
	key := connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef")))
	const proc = "/a.v1.S/M"
	if _, err := interceptorFor(t, key, connectjwt.WithPublicProcedures(proc),
		connectjwt.WithProcedurePolicy(proc, connectjwt.Policy{Scopes: []string{"admin"}})); err == nil {
		t.Error("public and scoped policies for one procedure were accepted")
	}
	if _, err := interceptorFor(t, key, connectjwt.WithPublicProcedures(proc, proc)); err != nil {
		t.Errorf("the same policy twice: %v", err)
	}
}

func TestZeroValues(t *testing.T) {
	var v connectjwt.Validator
	for _, p := range v.Policies(connectjwtv1.File_connectjwt_v1_auth_service_proto.Services()) {
		if p.Source != connectjwt.PolicyFromDefault || p.Policy.Public {
			t.Errorf("zero Validator policy for %s = %+v", p.Procedure, p)
		}
	}
	if ae, ok := connectjwt.AuthErrorOf(nil); ok || ae != nil {
		t.Errorf("AuthErrorOf(nil) = %v, %v", ae, ok)
	}
	if got := connectjwt.DefaultError(nil); connectjwt.ReasonOf(got) != connectjwt.ReasonMalformed {
		t.Errorf("DefaultError(nil) = %v", got)
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
	if connect.CodeOf(err) != connect.CodeUnavailable || reasonOf(err) != connectjwt.ReasonUnavailable {
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
	if connect.CodeOf(err) != connect.CodePermissionDenied || reasonOf(err) != connectjwt.ReasonAccessDenied {
		t.Errorf("Logout with another issuer's token = %v", err)
	}
	if revoked, _ := store.IsRevoked(ctx, &connectjwt.Claims{Identity: "alice", IssuedAt: time.Now().Add(-time.Second)}); revoked {
		t.Error("the local user was logged out by a foreign token")
	}
}
