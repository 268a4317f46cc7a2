package connectjwttest_test

import (
	"context"
	"testing"
	"time"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/connectjwttest"
)

func TestMinterTokens(t *testing.T) {
	t.Parallel()
	m := connectjwttest.New()
	v, err := connectjwt.NewValidator(m.Options())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := v.Validate(ctx, m.Token("alice", connectjwttest.WithScopes("a", "b"), connectjwttest.Fresh(),
		connectjwttest.WithClaims(map[string]any{"tenant": "acme", "level": 3})))
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity != "alice" || c.Issuer != connectjwttest.Issuer || len(c.Audience) != 1 || c.Audience[0] != connectjwttest.Audience ||
		!c.HasScope("a") || !c.HasScope("b") || !c.Fresh || time.Until(c.ExpiresAt) < 10*time.Minute {
		t.Errorf("claims = %+v", c)
	}
	if raw, ok := c.Value("level"); !ok || string(raw) != "3" {
		t.Errorf("custom claim = %s, %v", raw, ok)
	}
	if c, err := v.Validate(ctx, m.Token("bob")); err != nil || c.Fresh || len(c.Scopes) != 0 {
		t.Errorf("plain token = %+v, %v", c, err)
	}
	if _, err := v.Validate(ctx, m.ExpiredToken("alice")); connectjwt.ReasonOf(err) != connectjwt.ReasonExpired {
		t.Errorf("expired token: %v", err)
	}
	if _, err := v.Validate(ctx, m.RefreshToken("alice")); connectjwt.ReasonOf(err) != connectjwt.ReasonWrongTokenType {
		t.Errorf("refresh token as access token: %v", err)
	}
	if c, err := v.ValidateRefresh(ctx, m.RefreshToken("alice")); err != nil || c.Identity != "alice" {
		t.Errorf("refresh token: %v, %v", c, err)
	}
	// Another minter's tokens are not accepted: each has its own key.
	if _, err := v.Validate(ctx, connectjwttest.New().Token("alice")); connectjwt.ReasonOf(err) != connectjwt.ReasonInvalidSignature {
		t.Errorf("another minter's token: %v", err)
	}
}

func TestMinterContext(t *testing.T) {
	t.Parallel()
	m := connectjwttest.New(connectjwt.WithIdentityClaim("email"))
	ctx := m.Context(context.Background(), "alice@example.com", connectjwttest.WithClaims(map[string]any{"roles": []string{"admin"}}))
	c, ok := connectjwt.ClaimsFromContext(ctx)
	if !ok || c.Identity != "alice@example.com" {
		t.Fatalf("claims = %+v, %v", c, ok)
	}
	var custom struct {
		Email string   `json:"email"`
		Roles []string `json:"roles"`
	}
	if err := c.Decode(&custom); err != nil || custom.Email != "alice@example.com" || len(custom.Roles) != 1 {
		t.Errorf("Decode = %+v, %v", custom, err)
	}
	if b, err := c.MarshalJSON(); err != nil || len(b) == 0 {
		t.Errorf("MarshalJSON = %s, %v", b, err)
	}
}

func TestMinterRefusesReservedClaims(t *testing.T) {
	t.Parallel()
	m := connectjwttest.New()
	for _, name := range []string{"sub", "exp", "fresh"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("a custom %q claim was accepted", name)
				}
			}()
			m.Token("alice", connectjwttest.WithClaims(map[string]any{name: "x"}))
		}()
	}
}
