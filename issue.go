package connectjwt

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
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
// Every token carries iat, nbf, exp, jti, sid, auth_time, the identity
// claim, iss and aud when configured, the kid of its key (derived when
// [Key.ID] is empty; the public keys are served by [Issuer.JWKSHandler]),
// and an explicit typ header: "at+jwt" for access tokens and "refresh+jwt"
// for refresh tokens, so neither is ever accepted as the other. Access tokens also carry
// "fresh": true when minted from a password login and the claims of the
// [WithExtraClaims] function.
type Issuer struct {
	cfg    *config
	signer *boundKey
	// validator checks the tokens the issuer is given back (refresh
	// tokens, and access tokens to revoke); its local keys are those the
	// issuer signs with and publishes.
	validator *Validator
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
	cfg.cacheSize = 0 // the issuer validates refresh tokens, which are never cached
	v, err := newValidator(cfg)
	if err != nil {
		return nil, err
	}
	is := &Issuer{cfg: cfg, validator: v}
	keys := v.static.all
	for _, key := range slices.Backward(keys) {
		if key.sign != nil {
			is.signer = key
			break
		}
	}
	if is.signer == nil {
		return nil, errors.New("connectjwt: no signing key: give an HMAC secret or a private key")
	}
	if cfg.accessTTL <= 0 || cfg.refreshTTL <= 0 || cfg.sessionTTL < 0 {
		return nil, errors.New("connectjwt: token lifetimes must be positive")
	}
	if cfg.sessionTTL == 0 {
		cfg.sessionTTL = cfg.refreshTTL
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
// issuer writes (iss, sub, aud, exp, nbf, iat, jti, fresh, sid, auth_time,
// or the identity claim); doing so, or returning an error, fails the
// issuing call.
func WithExtraClaims(claims func(ctx context.Context, identity string) (map[string]any, error)) IssuerOption {
	return issuerOption(func(c *config) { c.extraClaims = claims })
}

// WithSessionLifetime sets the absolute lifetime of a session: no token
// descended from one login (by [AuthService.Refresh]) expires later than
// this long after the login, however often it is refreshed; the user then
// logs in again. By default it is the refresh token lifetime
// ([WithTokenLifetimes]), so a session never outlives the first refresh
// token of its login; set it longer to let refreshes extend a session up to
// that bound.
func WithSessionLifetime(d time.Duration) IssuerOption {
	return issuerOption(func(c *config) { c.sessionTTL = d })
}

// Algorithm returns the alg of the key the issuer signs with.
func (is *Issuer) Algorithm() string { return is.signer.alg }

// CreateAccessToken returns an access token for identity, not fresh, and
// when it expires. The token starts a session of its own (sid and auth_time
// claims).
func (is *Issuer) CreateAccessToken(ctx context.Context, identity string) (string, time.Time, error) {
	return is.createAlone(ctx, identity, false, false)
}

// CreateFreshAccessToken returns a fresh access token for identity, as
// minted right after a password login (see [Policy.Fresh]), and when it
// expires. The token starts a session of its own (sid and auth_time claims).
func (is *Issuer) CreateFreshAccessToken(ctx context.Context, identity string) (string, time.Time, error) {
	return is.createAlone(ctx, identity, false, true)
}

// CreateRefreshToken returns a refresh token for identity and when it
// expires. It is accepted only by [Validator.ValidateRefresh] and
// [AuthService.Refresh], never as an access token. The token starts a
// session of its own (sid and auth_time claims).
func (is *Issuer) CreateRefreshToken(ctx context.Context, identity string) (string, time.Time, error) {
	return is.createAlone(ctx, identity, true, false)
}

// createAlone creates one token that starts a session of its own.
func (is *Issuer) createAlone(ctx context.Context, identity string, refresh, fresh bool) (string, time.Time, error) {
	sess, err := is.newSession()
	if err != nil {
		return "", time.Time{}, err
	}
	return is.create(ctx, identity, refresh, fresh, sess)
}

// CreateTokenPair returns an access token, not fresh, and the refresh token
// that renews it. Both start one new session, with a sid claim naming it and
// an auth_time claim saying when it started (the claims of OpenID Connect);
// [AuthService.Refresh] passes both on, and no token of the session expires
// after auth_time plus the session lifetime ([WithSessionLifetime]).
func (is *Issuer) CreateTokenPair(ctx context.Context, identity string) (*connectjwtv1.TokenPair, error) {
	return is.createNewPair(ctx, identity, false)
}

// CreateFreshTokenPair returns a fresh access token and the refresh token
// that renews it, as [AuthService.Login] sends; both start one new session,
// as with [Issuer.CreateTokenPair].
func (is *Issuer) CreateFreshTokenPair(ctx context.Context, identity string) (*connectjwtv1.TokenPair, error) {
	return is.createNewPair(ctx, identity, true)
}

func (is *Issuer) createNewPair(ctx context.Context, identity string, fresh bool) (*connectjwtv1.TokenPair, error) {
	sess, err := is.newSession()
	if err != nil {
		return nil, err
	}
	return is.createPair(ctx, identity, fresh, sess)
}

// A session is what the tokens descended from one login share.
type session struct {
	id       string
	authTime time.Time // the login, to the second
}

func (is *Issuer) newSession() (session, error) {
	if is == nil || is.signer == nil {
		return session{}, errors.New("connectjwt: issuer is not configured")
	}
	id, err := newTokenID()
	if err != nil {
		return session{}, err
	}
	return session{id: id, authTime: is.cfg.now().Truncate(time.Second)}, nil
}

// sessionEnd is when every token of sess has expired.
func (is *Issuer) sessionEnd(sess session) time.Time {
	return sess.authTime.Add(is.cfg.sessionTTL)
}

func (is *Issuer) createPair(ctx context.Context, identity string, fresh bool, sess session) (*connectjwtv1.TokenPair, error) {
	access, accessExp, err := is.create(ctx, identity, false, fresh, sess)
	if err != nil {
		return nil, err
	}
	refresh, refreshExp, err := is.create(ctx, identity, true, false, sess)
	if err != nil {
		return nil, err
	}
	return &connectjwtv1.TokenPair{
		AccessToken:           access,
		RefreshToken:          refresh,
		TokenType:             DefaultHeaderScheme,
		AccessTokenExpiresAt:  timestamppb.New(accessExp),
		RefreshTokenExpiresAt: timestamppb.New(refreshExp),
		ExpiresIn:             int64(expiresIn(accessExp.Sub(is.cfg.now()), is.cfg.accessTTL) / time.Second),
	}, nil
}

// expiresIn is the access token lifetime to announce: ttl, or less when the
// session's end cut it short.
func expiresIn(left, ttl time.Duration) time.Duration {
	if left < ttl-time.Second {
		return max(left, 0)
	}
	return ttl
}

func (is *Issuer) create(ctx context.Context, identity string, refresh, fresh bool, sess session) (string, time.Time, error) {
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
	if end := is.sessionEnd(sess); end.Before(exp) {
		exp = end
	}
	if !exp.After(is.cfg.now()) {
		return "", time.Time{}, fmt.Errorf("connectjwt: session has ended: %w", ErrExpired)
	}
	claims := jwt.MapClaims{}
	if !refresh && is.cfg.extraClaims != nil {
		extra, err := is.cfg.extraClaims(ctx, identity)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("connectjwt: extra claims: %w", err)
		}
		for name, value := range extra {
			// Names are compared ignoring case: a "Sub" beside "sub" is a
			// legal, distinct claim, but would make Claims.Decode refuse
			// the application's claims struct.
			for _, reserved := range [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "fresh", "sid", "auth_time", is.cfg.identityClaim} {
				if strings.EqualFold(name, reserved) {
					return "", time.Time{}, fmt.Errorf("connectjwt: extra claims may not set %q", name)
				}
			}
			claims[name] = value
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
	claims["sid"] = sess.id
	claims["auth_time"] = sess.authTime.Unix()
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
	token := jwt.NewWithClaims(is.signer.method, claims)
	token.Header["alg"] = is.signer.alg // Ed25519, not the method's EdDSA
	token.Header["typ"] = typ
	if is.signer.id != "" {
		token.Header["kid"] = is.signer.id
	}
	s, err := token.SignedString(is.signer.sign)
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
func (is *Issuer) Validator() *Validator { return is.validator }
