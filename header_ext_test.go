package connectjwt_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/connectjwt/connectjwt"
	"github.com/golang-jwt/jwt/v5"
)

// The configured header name is canonicalized, and an empty scheme means the
// header carries the bare token, end to end through a Validator.
func TestValidateHeaderCustomHeader(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	now := time.Unix(1_700_000_000, 0)
	s := mint(t, tokenSpec{Key: secret, Claims: jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix()}})
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey(secret)), connectjwt.WithHeader("x-token", ""),
		connectjwt.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		header  http.Header
		wantErr error
	}{
		{"bare token", http.Header{"X-Token": {s}}, nil},
		{"bearer prefix refused", http.Header{"X-Token": {"Bearer " + s}}, connectjwt.ErrMalformed},
		{"authorization ignored", http.Header{"Authorization": {"Bearer " + s}}, connectjwt.ErrMissing},
		{"two headers", http.Header{"X-Token": {s, s}}, connectjwt.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.ValidateHeader(context.Background(), tt.header)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ValidateHeader: %v", err)
				}
				if c.Identity != "alice" {
					t.Fatalf("identity = %q", c.Identity)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || c != nil {
				t.Fatalf("err = %v, claims = %v; want %v", err, c, tt.wantErr)
			}
			if strings.Contains(err.Error(), s) {
				t.Errorf("error contains the token")
			}
		})
	}
}
