package connectjwt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/connectjwt/connectjwt"
)

// signingKeys returns one signing key per supported algorithm family.
func signingKeys(t *testing.T) map[string]connectjwt.Key {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	secret := func(n int) []byte { b := make([]byte, n); _, _ = rand.Read(b); return b }
	return map[string]connectjwt.Key{
		"HS256": {Algorithm: "HS256", Material: secret(32)},
		"HS384": {Algorithm: "HS384", Material: secret(48)},
		"HS512": {Algorithm: "HS512", Material: secret(64)},
		"RS256": {Algorithm: "RS256", Material: rsaKey},
		"PS256": {Algorithm: "PS256", Material: rsaKey},
		"ES256": {Algorithm: "ES256", Material: p256},
		"ES384": {Algorithm: "ES384", Material: p384},
		"ES512": {Algorithm: "ES512", Material: p521},
		"EdDSA": {Algorithm: "EdDSA", Material: edKey},
	}
}

// segment decodes part i (0 header, 1 payload) of a compact token.
func segment(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestIssueValidateRoundTrip(t *testing.T) {
	ctx := context.Background()
	for alg, key := range signingKeys(t) {
		t.Run(alg, func(t *testing.T) {
			key.ID = "k-" + alg
			opts := []connectjwt.Option{
				connectjwt.WithKey(key),
				connectjwt.WithIssuer("https://issuer.test"),
				connectjwt.WithAudience("api"),
			}
			issuer, err := connectjwt.NewIssuer(connectjwt.WithOptions(opts...))
			if err != nil {
				t.Fatal(err)
			}
			validator, err := connectjwt.NewValidator(connectjwt.WithOptions(opts...))
			if err != nil {
				t.Fatal(err)
			}
			access, exp, err := issuer.CreateFreshAccessToken(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			claims, err := validator.Validate(ctx, access)
			if err != nil {
				t.Fatalf("Validate(access) = %v", err)
			}
			if claims.Identity != "alice" || !claims.Fresh || claims.Issuer != "https://issuer.test" ||
				claims.Algorithm != alg || claims.KeyID != key.ID || !claims.ExpiresAt.Equal(exp) || claims.ID == "" {
				t.Errorf("claims = %+v", claims)
			}
			if h := segment(t, access, 0); h["typ"] != "at+jwt" || h["kid"] != key.ID || h["alg"] != alg {
				t.Errorf("access header = %v", h)
			}
			refresh, _, err := issuer.CreateRefreshToken(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if h := segment(t, refresh, 0); h["typ"] != "refresh+jwt" {
				t.Errorf("refresh header = %v", h)
			}
			if _, err := validator.Validate(ctx, refresh); !errors.Is(err, connectjwt.ErrWrongTokenType) {
				t.Errorf("refresh token as access token: %v, want ErrWrongTokenType", err)
			}
			if _, err := validator.ValidateRefresh(ctx, access); !errors.Is(err, connectjwt.ErrWrongTokenType) {
				t.Errorf("access token as refresh token: %v, want ErrWrongTokenType", err)
			}
			if c, err := validator.ValidateRefresh(ctx, refresh); err != nil || c.Identity != "alice" || c.Fresh {
				t.Errorf("ValidateRefresh = %+v, %v", c, err)
			}
		})
	}
}

func TestIssuerClaims(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	key := connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef")))
	issuer, err := connectjwt.NewIssuer(key,
		connectjwt.WithClock(func() time.Time { return now }),
		connectjwt.WithTokenLifetimes(time.Minute, time.Hour),
		connectjwt.WithAudience("a", "b"),
		connectjwt.WithExtraClaims(func(_ context.Context, identity string) (map[string]any, error) {
			return map[string]any{"scope": "read write", "role": identity + "-role"}, nil
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	access, exp, err := issuer.CreateAccessToken(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	p := segment(t, access, 1)
	want := map[string]any{"sub": "bob", "iat": 1.8e9, "nbf": 1.8e9, "exp": 1.8e9 + 60, "scope": "read write", "role": "bob-role", "fresh": false}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("claim %s = %v, want %v", k, p[k], v)
		}
	}
	if aud, _ := p["aud"].([]any); len(aud) != 2 {
		t.Errorf("aud = %v, want both audiences", p["aud"])
	}
	if !exp.Equal(now.Add(time.Minute)) {
		t.Errorf("exp = %v", exp)
	}
	pair, err := issuer.CreateFreshTokenPair(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if pair.GetTokenType() != "Bearer" || pair.GetExpiresIn() != 60 ||
		!pair.GetRefreshTokenExpiresAt().AsTime().Equal(now.Add(time.Hour)) {
		t.Errorf("pair = %v", pair)
	}
	if segment(t, pair.GetRefreshToken(), 1)["scope"] != nil {
		t.Error("refresh token carries the claims loader's claims")
	}
	a, b := segment(t, pair.GetAccessToken(), 1)["jti"], segment(t, pair.GetRefreshToken(), 1)["jti"]
	if a == b || a == "" {
		t.Errorf("jti not unique: %v %v", a, b)
	}
}

func TestIssuerErrors(t *testing.T) {
	ctx := context.Background()
	secret := connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef")))
	priv, ok := signingKeys(t)["ES256"].Material.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatal("the ES256 signing key is not an *ecdsa.PrivateKey")
	}
	pub := priv.Public()
	for _, tc := range []struct {
		name string
		opts []connectjwt.IssuerOption
	}{
		{"no key", nil},
		{"public key only", []connectjwt.IssuerOption{connectjwt.WithKey(connectjwt.Key{Algorithm: "ES256", Material: pub})}},
		{"zero lifetime", []connectjwt.IssuerOption{secret, connectjwt.WithTokenLifetimes(0, time.Hour)}},
	} {
		if _, err := connectjwt.NewIssuer(tc.opts...); err == nil {
			t.Errorf("%s: NewIssuer succeeded", tc.name)
		}
	}
	for _, reserved := range []string{"sub", "exp", "iss", "fresh"} {
		issuer, err := connectjwt.NewIssuer(secret, connectjwt.WithExtraClaims(func(context.Context, string) (map[string]any, error) {
			return map[string]any{reserved: "x"}, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := issuer.CreateAccessToken(ctx, "bob"); err == nil {
			t.Errorf("claims loader overriding %q was accepted", reserved)
		}
	}
	issuer, _ := connectjwt.NewIssuer(secret)
	if _, _, err := issuer.CreateAccessToken(ctx, ""); err == nil {
		t.Error("empty identity was accepted")
	}
	var zero connectjwt.Issuer
	if _, _, err := zero.CreateAccessToken(ctx, "bob"); err == nil {
		t.Error("zero Issuer issued a token")
	}
}

// Appending a key rotates signing; tokens from the old key keep verifying
// while it is configured.
func TestIssuerKeyRotation(t *testing.T) {
	ctx := context.Background()
	keys := signingKeys(t)
	oldKey, newKey := keys["ES256"], keys["EdDSA"]
	oldKey.ID, newKey.ID = "2025", "2026"
	before, _ := connectjwt.NewIssuer(connectjwt.WithKey(oldKey))
	after, _ := connectjwt.NewIssuer(connectjwt.WithKey(oldKey), connectjwt.WithKey(newKey))
	validator, _ := connectjwt.NewValidator(connectjwt.WithKey(oldKey), connectjwt.WithKey(newKey))
	oldToken, _, _ := before.CreateAccessToken(ctx, "alice")
	newToken, _, _ := after.CreateAccessToken(ctx, "alice")
	if after.Algorithm() != "EdDSA" || segment(t, newToken, 0)["kid"] != "2026" {
		t.Errorf("issuer does not sign with the newest key")
	}
	for _, tok := range []string{oldToken, newToken} {
		if _, err := validator.Validate(ctx, tok); err != nil {
			t.Errorf("Validate = %v", err)
		}
	}
	retired, _ := connectjwt.NewValidator(connectjwt.WithKey(newKey))
	if _, err := retired.Validate(ctx, oldToken); !errors.Is(err, connectjwt.ErrInvalidAlgorithm) {
		t.Errorf("token of a retired key: %v", err)
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
