package connectjwt

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
)

// An Issuer creates tokens, Flask's create_jwt. Build it with [NewIssuer]
// from the same shared [Option]s ([WithOptions]) as the [Validator] that
// checks its tokens: same [Key], [WithIssuer], [WithAudience],
// [WithIdentityClaim], [WithTokenTypes] and [WithRevocationStore], and its
// tokens pass with no further wiring.
//
// Every token carries iat, nbf, exp, jti, the identity claim, iss and aud
// when configured, the kid of its key (derived when [Key.ID] is empty; the
// public keys are served by [Issuer.JWKSHandler]), and an explicit
// typ header: "at+jwt" for access tokens and "refresh+jwt" for refresh
// tokens, so neither is ever accepted as the other. Access tokens also carry
// "fresh": true when minted from a password login and the claims of the
// [WithExtraClaims] function.
type Issuer struct {
	cfg     *config
	signer  *boundKey
	refresh *Validator
}

// NewIssuer returns an Issuer for the given options. It needs a [Key] that
// can sign (an HMAC secret or a private key); it signs with the last such
// key, so appending a key rotates signing.
func NewIssuer(opts ...IssuerOption) (*Issuer, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o.applyToIssuer(cfg)
		}
	}
	if err := cfg.err(); err != nil {
		return nil, err
	}
	cfg.noCache = true // the issuer validates refresh tokens, which are never cached
	v, err := newValidator(cfg)
	if err != nil {
		return nil, err
	}
	is := &Issuer{cfg: cfg, refresh: v}
	for i := len(v.keys) - 1; i >= 0; i-- {
		if v.keys[i].sign != nil {
			is.signer = v.keys[i]
			break
		}
	}
	if is.signer == nil {
		return nil, errors.New("connectjwt: no signing key: give an HMAC secret or a private key")
	}
	if cfg.accessTTL <= 0 || cfg.refreshTTL <= 0 {
		return nil, errors.New("connectjwt: token lifetimes must be positive")
	}
	return is, nil
}

// WithTokenLifetimes sets how long access and refresh tokens live, by default
// 15 minutes and 30 days (flask-jwt-extended's defaults).
func WithTokenLifetimes(access, refresh time.Duration) IssuerOption {
	return issuerOption(func(c *config) { c.accessTTL, c.refreshTTL = access, refresh })
}

// WithExtraClaims sets a function that returns extra claims for the access
// tokens of identity (Flask's additional_claims_loader), e.g.
// {"scope": "read write"} or roles. It may not set a registered claim the
// issuer writes (iss, sub, aud, exp, nbf, iat, jti, fresh, or the identity
// claim); doing so, or returning an error, fails the issuing call.
func WithExtraClaims(claims func(ctx context.Context, identity string) (map[string]any, error)) IssuerOption {
	return issuerOption(func(c *config) { c.extraClaims = claims })
}

// Algorithm returns the alg of the key the issuer signs with.
func (is *Issuer) Algorithm() string { return is.signer.alg }

// CreateAccessToken returns an access token for identity, not fresh, and
// when it expires.
func (is *Issuer) CreateAccessToken(ctx context.Context, identity string) (string, time.Time, error) {
	return is.create(ctx, identity, false, false)
}

// CreateFreshAccessToken returns a fresh access token for identity, as
// minted right after a password login (see [Policy.Fresh]), and when it
// expires.
func (is *Issuer) CreateFreshAccessToken(ctx context.Context, identity string) (string, time.Time, error) {
	return is.create(ctx, identity, false, true)
}

// CreateRefreshToken returns a refresh token for identity and when it
// expires. It is accepted only by [Validator.ValidateRefresh] and
// [AuthService.Refresh], never as an access token.
func (is *Issuer) CreateRefreshToken(ctx context.Context, identity string) (string, time.Time, error) {
	return is.create(ctx, identity, true, false)
}

// CreateTokenPair returns an access token, not fresh, and the refresh token
// that renews it, as [AuthService.Refresh] sends.
func (is *Issuer) CreateTokenPair(ctx context.Context, identity string) (*connectjwtv1.TokenPair, error) {
	return is.createPair(ctx, identity, false)
}

// CreateFreshTokenPair returns a fresh access token and the refresh token
// that renews it, as [AuthService.Login] sends.
func (is *Issuer) CreateFreshTokenPair(ctx context.Context, identity string) (*connectjwtv1.TokenPair, error) {
	return is.createPair(ctx, identity, true)
}

func (is *Issuer) createPair(ctx context.Context, identity string, fresh bool) (*connectjwtv1.TokenPair, error) {
	access, accessExp, err := is.create(ctx, identity, false, fresh)
	if err != nil {
		return nil, err
	}
	refresh, refreshExp, err := is.CreateRefreshToken(ctx, identity)
	if err != nil {
		return nil, err
	}
	return &connectjwtv1.TokenPair{
		AccessToken:           access,
		RefreshToken:          refresh,
		TokenType:             DefaultHeaderScheme,
		AccessTokenExpiresAt:  timestamppb.New(accessExp),
		RefreshTokenExpiresAt: timestamppb.New(refreshExp),
		ExpiresIn:             int64(is.cfg.accessTTL / time.Second),
	}, nil
}

func (is *Issuer) create(ctx context.Context, identity string, refresh, fresh bool) (string, time.Time, error) {
	if is == nil || is.signer == nil {
		return "", time.Time{}, errors.New("connectjwt: issuer is not configured")
	}
	if identity == "" {
		return "", time.Time{}, errors.New("connectjwt: identity must not be empty")
	}
	// Whole seconds for iat, nbf and exp, as most issuers write them:
	// verifiers that compare iat with the current whole second (PyJWT,
	// jose's maxTokenAge) would refuse a fractional iat for up to a second.
	now := is.cfg.now().Truncate(time.Second)
	ttl, typ := is.cfg.accessTTL, is.cfg.accessType
	if refresh {
		ttl, typ = is.cfg.refreshTTL, is.cfg.refreshType
	}
	exp := now.Add(ttl)
	claims := jwt.MapClaims{}
	if !refresh && is.cfg.extraClaims != nil {
		extra, err := is.cfg.extraClaims(ctx, identity)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("connectjwt: extra claims: %w", err)
		}
		for k, v := range extra {
			// Names are compared ignoring case: a "Sub" beside "sub" is a
			// legal, distinct claim, but would make Claims.Decode refuse
			// the application's claims struct.
			for _, reserved := range [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "fresh", is.cfg.identityClaim} {
				if strings.EqualFold(k, reserved) {
					return "", time.Time{}, fmt.Errorf("connectjwt: extra claims may not set %q", k)
				}
			}
			claims[k] = v
		}
	}
	jti, err := newTokenID()
	if err != nil {
		return "", time.Time{}, err
	}
	claims[is.cfg.identityClaim] = identity
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Unix()
	claims["exp"] = exp.Unix()
	claims["jti"] = jti
	if is.cfg.issuer != "" {
		claims["iss"] = is.cfg.issuer
	}
	switch len(is.cfg.audience) {
	case 0:
	case 1:
		claims["aud"] = is.cfg.audience[0]
	default:
		claims["aud"] = is.cfg.audience
	}
	if !refresh {
		claims["fresh"] = fresh
	}
	t := jwt.NewWithClaims(is.signer.method, claims)
	t.Header["alg"] = is.signer.alg // Ed25519, not the method's EdDSA
	t.Header["typ"] = typ
	if is.signer.id != "" {
		t.Header["kid"] = is.signer.id
	}
	s, err := t.SignedString(is.signer.sign)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("connectjwt: signing: %w", err)
	}
	return s, exp, nil
}

// newTokenID returns a random jti: 128 bits, base64url.
func newTokenID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("connectjwt: token ID: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Validator returns a validator that accepts this issuer's tokens, with the
// issuer's keys, issuer, audience, token types and revocation store, and no
// policy or verified-token cache.
func (is *Issuer) Validator() *Validator { return is.refresh }
