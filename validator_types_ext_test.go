package connectjwt_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/connectjwt/connectjwt"
)

// typHeader is a mint header: typ set to typ, or deleted when untyped.
func typHeader(typ string, untyped bool) map[string]any {
	if untyped {
		return map[string]any{"typ": nil}
	}
	return map[string]any{"typ": typ}
}

// Accepted access token types of the local keys (issue 16 item 2): the
// access type of WithTokenTypes, those of WithAcceptedAccessTypes, and
// tokens without typ only with WithUntypedAccessTokens. The refresh type is
// accepted by ValidateRefresh only, an empty typ never.
func TestLocalAccessTokenTypes(t *testing.T) {
	ctx := context.Background()
	claims := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
	hs := connectjwt.WithKey(connectjwt.HMACKey(testKeys().hs256))
	type tokenCase struct {
		typ     string
		untyped bool
	}
	headers := []tokenCase{
		{typ: "at+jwt"}, {typ: "application/AT+JWT"}, {typ: "JWT"}, {typ: "application/jwt"},
		{untyped: true}, {typ: ""}, {typ: "refresh+jwt"}, {typ: "id+jwt"},
	}
	name := func(h tokenCase) string {
		if h.untyped {
			return "no typ"
		}
		return "typ " + `"` + h.typ + `"`
	}
	for _, tc := range []struct {
		name   string
		opts   []connectjwt.ValidatorOption
		access []string // names of the headers Validate accepts
	}{
		{"default", nil, []string{`typ "at+jwt"`, `typ "application/AT+JWT"`}},
		{"JWT", []connectjwt.ValidatorOption{connectjwt.WithAcceptedAccessTypes("JWT")},
			[]string{`typ "at+jwt"`, `typ "application/AT+JWT"`, `typ "JWT"`, `typ "application/jwt"`}},
		{"untyped", []connectjwt.ValidatorOption{connectjwt.WithUntypedAccessTokens()},
			[]string{`typ "at+jwt"`, `typ "application/AT+JWT"`, "no typ"}},
		{"JWT and untyped", []connectjwt.ValidatorOption{connectjwt.WithAcceptedAccessTypes("jwt"), connectjwt.WithUntypedAccessTokens()},
			[]string{`typ "at+jwt"`, `typ "application/AT+JWT"`, `typ "JWT"`, `typ "application/jwt"`, "no typ"}},
		{"access type JWT, untyped", []connectjwt.ValidatorOption{connectjwt.WithTokenTypes("JWT", "refresh+jwt"), connectjwt.WithUntypedAccessTokens()},
			[]string{`typ "JWT"`, `typ "application/jwt"`, "no typ"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := connectjwt.NewValidator(append([]connectjwt.ValidatorOption{hs}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range headers {
				tok := mint(t, tokenSpec{Claims: claims, Header: typHeader(h.typ, h.untyped)})
				_, err := v.Validate(ctx, tok)
				accepted := strings.Contains(strings.Join(tc.access, "|"), name(h))
				if accepted && err != nil {
					t.Errorf("Validate(%s): %v", name(h), err)
				}
				if !accepted && !errors.Is(err, connectjwt.ErrWrongTokenType) {
					t.Errorf("Validate(%s) = %v, want ErrWrongTokenType", name(h), err)
				}
				_, err = v.ValidateRefresh(ctx, tok)
				if h.typ == "refresh+jwt" && !h.untyped {
					if err != nil {
						t.Errorf("ValidateRefresh(refresh): %v", err)
					}
				} else if !errors.Is(err, connectjwt.ErrWrongTokenType) {
					t.Errorf("ValidateRefresh(%s) = %v, want ErrWrongTokenType", name(h), err)
				}
			}
		})
	}
}

// An Issuer's tokens are always typed, whatever the validator accepts, so
// its refresh tokens never pass as access tokens, and its access tokens
// never as refresh tokens.
func TestIssuerTokensStayTyped(t *testing.T) {
	ctx := context.Background()
	shared := connectjwt.WithOptions(connectjwt.WithKey(connectjwt.HMACKey(testKeys().hs256)), connectjwt.WithTokenTypes("JWT", "refresh+jwt"))
	is, err := connectjwt.NewIssuer(shared)
	if err != nil {
		t.Fatal(err)
	}
	v, err := connectjwt.NewValidator(shared, connectjwt.WithAcceptedAccessTypes("at+jwt", "JOSE"), connectjwt.WithUntypedAccessTokens())
	if err != nil {
		t.Fatal(err)
	}
	access, _, err := is.CreateAccessToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	refresh, _, err := is.CreateRefreshToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]string{access: "JWT", refresh: "refresh+jwt"} {
		h, _, _ := strings.Cut(tok, ".")
		hdr := mustB64(t, h)
		if !strings.Contains(hdr, `"typ":"`+want+`"`) {
			t.Errorf("header %s, want typ %s", hdr, want)
		}
	}
	if c, err := v.Validate(ctx, access); err != nil || c.Type != "JWT" {
		t.Errorf("access: %+v, %v", c, err)
	}
	if _, err := v.Validate(ctx, refresh); !errors.Is(err, connectjwt.ErrWrongTokenType) {
		t.Errorf("refresh as access: %v", err)
	}
	if _, err := v.ValidateRefresh(ctx, access); !errors.Is(err, connectjwt.ErrWrongTokenType) {
		t.Errorf("access as refresh: %v", err)
	}
	if _, err := v.ValidateRefresh(ctx, refresh); err != nil {
		t.Errorf("refresh: %v", err)
	}
}

// Each remote key set has its own accepted types (at+jwt by default,
// whatever WithTokenTypes says for local keys), checked for the issuer the
// token's iss routes it to; ValidateRefresh never accepts a remote token.
func TestRemoteAccessTokenTypes(t *testing.T) {
	ctx := context.Background()
	k := jwksKeys()
	keyA := connectjwt.Key{ID: "a", Algorithm: "ES256", Material: k.ec1}
	keyB := connectjwt.Key{ID: "b", Algorithm: "ES256", Material: k.ec2}
	srvA, srvB := newJWKSServer(t, keyA), newJWKSServer(t, keyB)
	lax := fast(jwksIssuerA, srvA.url, jwksAudA)
	lax.AccessTokenTypes, lax.AcceptUntyped = []string{"at+jwt", "JWT"}, true
	strict := fast(jwksIssuerB, srvB.url, jwksAudB)
	v, err := connectjwt.NewValidator(
		connectjwt.WithKey(connectjwt.HMACKey(testKeys().hs256)),
		connectjwt.WithTokenTypes("JWT", "refresh+jwt"),
		connectjwt.WithRemoteKeySet(lax), connectjwt.WithRemoteKeySet(strict),
	)
	if err != nil {
		t.Fatal(err)
	}
	remote := func(key connectjwt.Key, iss, aud, typ string, untyped bool) string {
		h := typHeader(typ, untyped)
		h["kid"] = key.ID
		return mint(t, tokenSpec{Method: jwt.SigningMethodES256, Key: key.Material, Claims: jwt.MapClaims{
			"sub": "alice", "iss": iss, "aud": aud, "exp": time.Now().Add(time.Hour).Unix(),
		}, Header: h})
	}
	local := func(typ string, untyped bool) string {
		return mint(t, tokenSpec{Claims: jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}, Header: typHeader(typ, untyped)})
	}
	for _, tc := range []struct {
		name  string
		token string
		want  connectjwt.Reason
	}{
		{"A at+jwt", remote(keyA, jwksIssuerA, jwksAudA, "at+jwt", false), connectjwt.ReasonUnspecified},
		{"A JWT", remote(keyA, jwksIssuerA, jwksAudA, "JWT", false), connectjwt.ReasonUnspecified},
		{"A untyped", remote(keyA, jwksIssuerA, jwksAudA, "", true), connectjwt.ReasonUnspecified},
		{"A empty typ", remote(keyA, jwksIssuerA, jwksAudA, "", false), connectjwt.ReasonWrongTokenType},
		{"A refresh", remote(keyA, jwksIssuerA, jwksAudA, "refresh+jwt", false), connectjwt.ReasonWrongTokenType},
		{"B at+jwt", remote(keyB, jwksIssuerB, jwksAudB, "at+jwt", false), connectjwt.ReasonUnspecified},
		{"B JWT", remote(keyB, jwksIssuerB, jwksAudB, "JWT", false), connectjwt.ReasonWrongTokenType},
		{"B untyped", remote(keyB, jwksIssuerB, jwksAudB, "", true), connectjwt.ReasonWrongTokenType},
		{"local JWT", local("JWT", false), connectjwt.ReasonUnspecified},
		{"local at+jwt", local("at+jwt", false), connectjwt.ReasonWrongTokenType},
		{"local untyped", local("", true), connectjwt.ReasonWrongTokenType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Validate(ctx, tc.token)
			wantReason(t, err, fromValidator, tc.want)
		})
	}
	// A remote token typed as our refresh token is not one of ours.
	_, err = v.ValidateRefresh(ctx, remote(keyA, jwksIssuerA, jwksAudA, "refresh+jwt", false))
	wantReason(t, err, fromValidator, connectjwt.ReasonWrongTokenType)
	if _, err := v.ValidateRefresh(ctx, local("refresh+jwt", false)); err != nil {
		t.Errorf("local refresh: %v", err)
	}
}

// Accepted types that would let a refresh token, or an untyped or
// generically typed token without an audience, through are refused at
// construction.
func TestAccessTokenTypeConstructionErrors(t *testing.T) {
	hs := connectjwt.WithKey(connectjwt.HMACKey(testKeys().hs256))
	set := func(f func(*connectjwt.RemoteKeySet)) connectjwt.ValidatorOption {
		s := connectjwt.RemoteKeySet{Issuer: jwksIssuerA, URL: "https://a.idp.test/jwks.json", Audience: []string{jwksAudA}}
		f(&s)
		return connectjwt.WithRemoteKeySet(s)
	}
	for _, tc := range []struct {
		name string
		opts []connectjwt.ValidatorOption
	}{
		{"no types", []connectjwt.ValidatorOption{hs, connectjwt.WithAcceptedAccessTypes()}},
		{"empty type", []connectjwt.ValidatorOption{hs, connectjwt.WithAcceptedAccessTypes("JWT", "")}},
		{"application/ only", []connectjwt.ValidatorOption{hs, connectjwt.WithAcceptedAccessTypes("application/")}},
		{"refresh type", []connectjwt.ValidatorOption{hs, connectjwt.WithAcceptedAccessTypes("refresh+jwt")}},
		{"refresh type spelled otherwise", []connectjwt.ValidatorOption{hs, connectjwt.WithAcceptedAccessTypes("Application/Refresh+JWT")}},
		{"custom refresh type, given after", []connectjwt.ValidatorOption{hs, connectjwt.WithAcceptedAccessTypes("JWT"), connectjwt.WithTokenTypes("at+jwt", "jwt")}},
		{"local types without local keys", []connectjwt.ValidatorOption{set(func(*connectjwt.RemoteKeySet) {}), connectjwt.WithAcceptedAccessTypes("JWT")}},
		{"untyped without local keys", []connectjwt.ValidatorOption{set(func(*connectjwt.RemoteKeySet) {}), connectjwt.WithUntypedAccessTokens()}},
		{"remote empty type", []connectjwt.ValidatorOption{set(func(s *connectjwt.RemoteKeySet) { s.AccessTokenTypes = []string{""} })}},
		{"remote refresh type", []connectjwt.ValidatorOption{set(func(s *connectjwt.RemoteKeySet) { s.AccessTokenTypes = []string{"at+jwt", "refresh+JWT"} })}},
		{"remote custom refresh type", []connectjwt.ValidatorOption{hs, connectjwt.WithTokenTypes("at+jwt", "rt+jwt"),
			set(func(s *connectjwt.RemoteKeySet) { s.AccessTokenTypes = []string{"rt+jwt"} })}},
		{"remote JWT without audience", []connectjwt.ValidatorOption{set(func(s *connectjwt.RemoteKeySet) {
			s.AccessTokenTypes, s.Audience = []string{"JWT"}, nil
		})}},
		{"remote application/jwt without audience", []connectjwt.ValidatorOption{set(func(s *connectjwt.RemoteKeySet) {
			s.AccessTokenTypes, s.Audience = []string{"at+jwt", "application/JWT"}, nil
		})}},
		{"remote untyped without audience", []connectjwt.ValidatorOption{set(func(s *connectjwt.RemoteKeySet) {
			s.AcceptUntyped, s.Audience = true, nil
		})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v, err := connectjwt.NewValidator(tc.opts...); err == nil || v != nil {
				t.Errorf("NewValidator: %v, %v; want an error", v, err)
			}
		})
	}
	// The same settings with an audience, or a specific type, build.
	for _, opts := range [][]connectjwt.ValidatorOption{
		{set(func(s *connectjwt.RemoteKeySet) { s.AccessTokenTypes, s.AcceptUntyped = []string{"JWT"}, true })},
		{set(func(s *connectjwt.RemoteKeySet) {
			s.AccessTokenTypes, s.Audience = []string{"at+jwt", "id-less+jwt"}, nil
		})},
		{hs, connectjwt.WithAcceptedAccessTypes("JWT"), connectjwt.WithUntypedAccessTokens()},
	} {
		if _, err := connectjwt.NewValidator(opts...); err != nil {
			t.Errorf("NewValidator: %v", err)
		}
	}
}
