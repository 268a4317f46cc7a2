// Package connectjwttest mints tokens for tests of handlers, loaders and
// clients that use connectjwt, so they run without a login server.
//
// A [Minter] holds a key generated for the test. Give its options
// ([Minter.Options]) to the [connectjwt.Validator] under test, and it mints
// valid, expired, refresh (wrong type for an access token) and scoped tokens
// with any custom claims that validator accepts or refuses as a real one
// would. [Minter.Context] builds a handler's context by minting a token and
// validating it, so [connectjwt.ClaimsFromContext] and [connectjwt.Claims.Decode]
// see exactly what a real call would give them.
//
// Its methods panic on misuse (a custom claim that connectjwt writes itself,
// such as "sub" or "exp"), like regexp.MustCompile: it is for tests only.
package connectjwttest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/connectjwt/connectjwt"
)

// The issuer and audience of every minted token.
const (
	Issuer   = "https://connectjwttest.invalid"
	Audience = "connectjwttest"
)

// testProcedure is the procedure Context authenticates; it has no policy.
const testProcedure = "/connectjwttest.v1.Test/Call"

// A Minter mints tokens signed with a key generated for one test. It is safe
// for concurrent use.
type Minter struct {
	shared    connectjwt.Option
	issuer    *connectjwt.Issuer
	expired   *connectjwt.Issuer // its clock is two hours behind
	validator *connectjwt.Validator
}

// New returns a Minter with a new Ed25519 key, issuing for [Issuer] and
// [Audience]. Options, such as [connectjwt.WithIdentityClaim] or
// [connectjwt.WithTokenTypes], are added to its shared options
// ([Minter.Options]); give it the ones the validator under test uses.
func New(opts ...connectjwt.Option) *Minter {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(fmt.Sprintf("connectjwttest: generating a key: %v", err)) //nolint:forbidigo // documented: a helper for tests that panics on misuse, like regexp.MustCompile
	}
	shared := connectjwt.WithOptions(append([]connectjwt.Option{
		connectjwt.WithKey(connectjwt.Key{Algorithm: "EdDSA", Material: priv}),
		connectjwt.WithIssuer(Issuer),
		connectjwt.WithAudience(Audience),
	}, opts...)...)
	extra := connectjwt.WithExtraClaims(func(ctx context.Context, _ string) (map[string]any, error) {
		claims, _ := ctx.Value(claimsKey{}).(map[string]any)
		return claims, nil
	})
	m := &Minter{shared: shared}
	if m.issuer, err = connectjwt.NewIssuer(shared, extra); err != nil {
		panic(fmt.Sprintf("connectjwttest: %v", err)) //nolint:forbidigo // documented: a helper for tests that panics on misuse, like regexp.MustCompile
	}
	past := connectjwt.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) })
	if m.expired, err = connectjwt.NewIssuer(shared, past, extra); err != nil {
		panic(fmt.Sprintf("connectjwttest: %v", err)) //nolint:forbidigo // documented: a helper for tests that panics on misuse, like regexp.MustCompile
	}
	if m.validator, err = connectjwt.NewValidator(shared, connectjwt.WithCacheSize(0)); err != nil {
		panic(fmt.Sprintf("connectjwttest: %v", err)) //nolint:forbidigo // documented: a helper for tests that panics on misuse, like regexp.MustCompile
	}
	return m
}

// Options returns the options a [connectjwt.Validator] needs to accept the
// minter's tokens: its public key, [Issuer], [Audience] and the options given
// to [New].
//
//	v, err := connectjwt.NewValidator(m.Options(), connectjwt.WithPublicProcedures(...))
func (m *Minter) Options() connectjwt.Option { return m.shared }

// A TokenOption adds to the claims of a minted token.
type TokenOption interface {
	apply(*tokenConfig)
}

type tokenConfig struct {
	claims map[string]any
	scopes []string
	fresh  bool
}

type tokenOption func(*tokenConfig)

func (o tokenOption) apply(c *tokenConfig) { o(c) }

// WithScopes grants scopes (the "scope" claim).
func WithScopes(scopes ...string) TokenOption {
	return tokenOption(func(c *tokenConfig) { c.scopes = append(c.scopes, scopes...) })
}

// WithClaims adds custom claims. They may not include a claim connectjwt
// writes itself (iss, sub, aud, exp, nbf, iat, jti, fresh or the identity
// claim).
func WithClaims(claims map[string]any) TokenOption {
	return tokenOption(func(c *tokenConfig) {
		if c.claims == nil {
			c.claims = map[string]any{}
		}
		maps.Copy(c.claims, claims)
	})
}

// Fresh marks the token fresh, as one minted from a password login (see
// [connectjwt.Policy.Fresh]).
func Fresh() TokenOption {
	return tokenOption(func(c *tokenConfig) { c.fresh = true })
}

type claimsKey struct{}

// mint creates an access token with is.
func (m *Minter) mint(issuer *connectjwt.Issuer, identity string, opts []TokenOption) string {
	var cfg tokenConfig
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	claims := map[string]any{}
	maps.Copy(claims, cfg.claims)
	if len(cfg.scopes) > 0 {
		claims["scope"] = strings.Join(cfg.scopes, " ")
	}
	ctx := context.WithValue(context.Background(), claimsKey{}, claims)
	create := issuer.CreateAccessToken
	if cfg.fresh {
		create = issuer.CreateFreshAccessToken
	}
	tok, _, err := create(ctx, identity)
	if err != nil {
		panic(fmt.Sprintf("connectjwttest: %v", err)) //nolint:forbidigo // documented: a helper for tests that panics on misuse, like regexp.MustCompile
	}
	return tok
}

// Token returns a valid access token for identity, living 15 minutes.
func (m *Minter) Token(identity string, opts ...TokenOption) string {
	return m.mint(m.issuer, identity, opts)
}

// ExpiredToken returns an access token for identity that expired more than
// an hour ago; its signature and claims are valid, so a validator refuses it
// with [connectjwt.ErrExpired] and the failure carries its claims.
func (m *Minter) ExpiredToken(identity string, opts ...TokenOption) string {
	return m.mint(m.expired, identity, opts)
}

// RefreshToken returns a valid refresh token for identity. Used as an access
// token it is refused with [connectjwt.ErrWrongTokenType].
func (m *Minter) RefreshToken(identity string) string {
	tok, _, err := m.issuer.CreateRefreshToken(context.Background(), identity)
	if err != nil {
		panic(fmt.Sprintf("connectjwttest: %v", err)) //nolint:forbidigo // documented: a helper for tests that panics on misuse, like regexp.MustCompile
	}
	return tok
}

// Context returns ctx carrying the verified claims of a new access token for
// identity, as a handler behind the [connectjwt.Interceptor] receives it:
// [connectjwt.ClaimsFromContext], [connectjwt.IdentityFromContext] and
// [connectjwt.Claims.Decode] (custom claims included) work as in a real call.
func (m *Minter) Context(ctx context.Context, identity string, opts ...TokenOption) context.Context {
	tok := m.Token(identity, opts...)
	out, f := m.validator.Authenticate(ctx, connectjwt.Call{
		Procedure: testProcedure,
		Header:    []string{connectjwt.DefaultHeaderScheme + " " + tok},
	})
	if f != nil {
		panic(fmt.Sprintf("connectjwttest: minted token refused: %v", f)) //nolint:forbidigo // documented: a helper for tests that panics on misuse, like regexp.MustCompile
	}
	return out
}
