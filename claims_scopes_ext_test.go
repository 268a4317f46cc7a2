package connectjwt_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/connectjwt/connectjwt"
)

// Scopes come in the shapes providers send (issue 16): scope and scp, each a
// space-separated string or an array of strings, merged without
// duplicates; any other type fails closed with ErrInvalidClaims.
func TestScopeClaimShapes(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey(secret)))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(extra jwt.MapClaims) string {
		claims := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
		maps.Copy(claims, extra)
		return mint(t, tokenSpec{Key: secret, Claims: claims})
	}
	for _, tc := range []struct {
		name    string
		claims  jwt.MapClaims
		want    []string
		wantErr error
	}{
		{name: "scope string (RFC 8693)", claims: jwt.MapClaims{"scope": "read  write"}, want: []string{"read", "write"}},
		{name: "scope array", claims: jwt.MapClaims{"scope": []string{"read", "write"}}, want: []string{"read", "write"}},
		{name: "Azure scp string", claims: jwt.MapClaims{"scp": "User.Read Mail.Send"}, want: []string{"User.Read", "Mail.Send"}},
		{name: "Okta scp array", claims: jwt.MapClaims{"scp": []string{"openid", "email"}}, want: []string{"openid", "email"}},
		{name: "both merged, no duplicates", claims: jwt.MapClaims{"scope": "read write", "scp": []string{"write", "admin"}}, want: []string{"read", "write", "admin"}},
		{name: "empty string", claims: jwt.MapClaims{"scope": ""}, want: nil},
		{name: "empty array", claims: jwt.MapClaims{"scp": []string{}}, want: nil},
		{name: "number", claims: jwt.MapClaims{"scope": 7}, wantErr: connectjwt.ErrInvalidClaims},
		{name: "object", claims: jwt.MapClaims{"scp": map[string]any{"a": 1}}, wantErr: connectjwt.ErrInvalidClaims},
		{name: "array with a number", claims: jwt.MapClaims{"scp": []any{"read", 1}}, wantErr: connectjwt.ErrInvalidClaims},
		{name: "array with null", claims: jwt.MapClaims{"scope": []any{"read", nil}}, wantErr: connectjwt.ErrInvalidClaims},
		{name: "array element with a space", claims: jwt.MapClaims{"scp": []string{"read write"}}, wantErr: connectjwt.ErrInvalidClaims},
		{name: "array with an empty scope", claims: jwt.MapClaims{"scp": []string{""}}, wantErr: connectjwt.ErrInvalidClaims},
		{name: "null", claims: jwt.MapClaims{"scope": nil}, wantErr: connectjwt.ErrInvalidClaims},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Validate(context.Background(), sign(tc.claims))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Scopes, tc.want) {
				t.Errorf("Scopes = %q, want %q", c.Scopes, tc.want)
			}
			for _, s := range tc.want {
				if !c.HasScope(s) {
					t.Errorf("HasScope(%q) = false", s)
				}
			}
		})
	}
}
