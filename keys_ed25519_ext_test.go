package connectjwt_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/connectjwt/connectjwt"
)

// RFC 9864's fully specified alg "Ed25519" is accepted for Ed25519 keys, and
// the one-key-one-algorithm binding holds between it and "EdDSA".
func TestEd25519AlgorithmName(t *testing.T) {
	ctx := context.Background()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	// sign makes a token whose header says alg, signed with EdDSA.
	sign := func(alg string) string {
		return mint(t, tokenSpec{Method: jwt.SigningMethodEdDSA, Key: priv, Header: map[string]any{"alg": alg},
			Claims: jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}})
	}
	validator := func(alg string) *connectjwt.Validator {
		v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.Key{Algorithm: alg, Material: priv.Public()}))
		if err != nil {
			t.Fatalf("%s key: %v", alg, err)
		}
		return v
	}
	ed25519V, eddsaV := validator("Ed25519"), validator("EdDSA")
	for _, tc := range []struct {
		name    string
		v       *connectjwt.Validator
		alg     string
		wantErr error
	}{
		{"Ed25519 key, Ed25519 token", ed25519V, "Ed25519", nil},
		{"EdDSA key, EdDSA token", eddsaV, "EdDSA", nil},
		{"Ed25519 key, EdDSA token", ed25519V, "EdDSA", connectjwt.ErrInvalidAlgorithm},
		{"EdDSA key, Ed25519 token", eddsaV, "Ed25519", connectjwt.ErrInvalidAlgorithm},
		{"lower-case ed25519", ed25519V, "ed25519", connectjwt.ErrInvalidAlgorithm},
	} {
		c, err := tc.v.Validate(ctx, sign(tc.alg))
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.wantErr)
		}
		if err == nil && c.Algorithm != tc.alg {
			t.Errorf("%s: Algorithm = %q", tc.name, c.Algorithm)
		}
	}
	for _, material := range []any{[]byte(strings.Repeat("k", 64)), "not a key"} {
		if _, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.Key{Algorithm: "Ed25519", Material: material})); err == nil {
			t.Errorf("Ed25519 with %T accepted", material)
		}
	}

	// The issuer signs with the name its key was given, and publishes it.
	is, err := connectjwt.NewIssuer(connectjwt.WithKey(connectjwt.Key{ID: "e", Algorithm: "Ed25519", Material: priv}))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := is.CreateAccessToken(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	var h map[string]any
	if err := json.Unmarshal(hdr, &h); err != nil || h["alg"] != "Ed25519" {
		t.Fatalf("issued header %s", hdr)
	}
	if c, err := is.Validator().Validate(ctx, tok); err != nil || c.Identity != "bob" {
		t.Errorf("issued Ed25519 token: %v", err)
	}
	eddsaE, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.Key{ID: "e", Algorithm: "EdDSA", Material: priv.Public()}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eddsaE.Validate(ctx, tok); !errors.Is(err, connectjwt.ErrInvalidAlgorithm) {
		t.Errorf("issued Ed25519 token on an EdDSA key: %v", err)
	}

	// The JWK Set names the key's algorithm, and a remote set bound from it
	// verifies the token.
	srv := httptest.NewServer(is.JWKSHandler())
	defer srv.Close()
	resp, err := send(nil, http.MethodGet, srv.URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) != 1 || set.Keys[0]["alg"] != "Ed25519" || set.Keys[0]["crv"] != "Ed25519" {
		t.Fatalf("published set %v: %v", set, err)
	}
	remote, err := connectjwt.NewValidator(connectjwt.WithRemoteKeySet(connectjwt.RemoteKeySet{Issuer: "https://ed.test", URL: srv.URL}))
	if err != nil {
		t.Fatal(err)
	}
	isRemote, err := connectjwt.NewIssuer(connectjwt.WithKey(connectjwt.Key{ID: "e", Algorithm: "Ed25519", Material: priv}), connectjwt.WithIssuer("https://ed.test"))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err = isRemote.CreateAccessToken(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := remote.Validate(ctx, tok); err != nil || c.Identity != "carol" || c.Algorithm != "Ed25519" {
		t.Errorf("Ed25519 token through the published set: %v", err)
	}
}
